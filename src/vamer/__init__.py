"""vamer: Valence-Arousal pretrained Multimodal Emotion Recognition.

The package flows one way, one subpackage per stage: raw dataset -> utterance table
(:mod:`vamer.data`) -> features (:mod:`vamer.features`) -> models (:mod:`vamer.models`,
trained by :mod:`vamer.training`) -> metrics/reports (:mod:`vamer.evaluation`) -> bundle ->
predictor (:mod:`vamer.inference`) -> server (:mod:`vamer.serving`).  Presets live in
:mod:`vamer.presets`.  Predicting: ``from vamer.inference import Predictor``.

>>> import vamer
>>> vamer.__version__ >= "0.1"
True
"""

__version__ = "0.5.5"

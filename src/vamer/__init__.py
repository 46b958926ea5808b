"""vamer: Valence-Arousal pretrained Multimodal Emotion Recognition.

The package flows one way: raw dataset -> utterance table (:mod:`vamer.data`) -> features ->
models -> metrics/reports -> bundle -> predictor/server.

>>> import vamer
>>> vamer.__version__ >= "0.1"
True
"""

__version__ = "0.1.0"

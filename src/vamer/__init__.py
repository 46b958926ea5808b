"""vamer: Valence-Arousal pretrained Multimodal Emotion Recognition.

The package flows one way: raw dataset -> utterance table (:mod:`vamer.data`) -> features ->
models -> metrics/reports -> bundle -> predictor/server.

>>> import vamer
>>> vamer.__version__ >= "0.1"
True
"""

__version__ = "0.2.0"


def __getattr__(name: str):
    # The predictor pulls in torch; import it only when asked for (`vamer --version` stays quick).
    if name == "Predictor":
        from vamer.inference.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'vamer' has no attribute {name!r}")

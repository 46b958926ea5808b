"""Stage 6 of vamer: the model bundle, the predictor and the ONNX export.

``Predictor`` is the entry point: ``Predictor.from_bundle("RUN/bundle").predict("clip.wav")``.
"""

from vamer.inference.predictor import PredictionError, Predictor

__all__ = ["Predictor", "PredictionError"]

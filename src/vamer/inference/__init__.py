"""Stage 6 of vamer: the model bundle, the predictor and the ONNX export."""

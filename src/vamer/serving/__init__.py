"""The REST service and its web page (stage after the predictor)."""

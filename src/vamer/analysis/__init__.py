"""Stage 2 of vamer: the analyses that chose the method's modalities (``vamer analyze``)."""

from vamer.analysis.report import analyze

__all__ = ["analyze"]

"""Stage 1 of vamer: raw datasets -> the utterance table.

>>> from vamer.data import UTTERANCE_COLUMNS
>>> "emotion" in UTTERANCE_COLUMNS
True

``load`` is imported on first use so that ``vamer.config`` can import
``vamer.data.labels`` without a cycle.
"""

from vamer.data.labels import DEFAULT_CLASSES, RAW_EMOTIONS
from vamer.data.table import BIO_COLUMNS, SKIPPED_COLUMNS, UTTERANCE_COLUMNS, LoadResult, SkipReason

__all__ = ["load", "LoadResult", "UTTERANCE_COLUMNS", "SKIPPED_COLUMNS", "BIO_COLUMNS", "SkipReason",
           "DEFAULT_CLASSES", "RAW_EMOTIONS"]


def __getattr__(name: str):
    if name == "load":
        from vamer.data.readers import load

        return load
    raise AttributeError(name)

"""Stage 1 of vamer: raw datasets -> the utterance table.

>>> from vamer.data import UTTERANCE_COLUMNS
>>> "emotion" in UTTERANCE_COLUMNS
True
"""

from vamer.data.labels import DEFAULT_CLASSES, RAW_EMOTIONS
from vamer.data.readers import load
from vamer.data.table import BIO_COLUMNS, SKIPPED_COLUMNS, UTTERANCE_COLUMNS, LoadResult

__all__ = [
    "load",
    "LoadResult",
    "UTTERANCE_COLUMNS",
    "SKIPPED_COLUMNS",
    "BIO_COLUMNS",
    "DEFAULT_CLASSES",
    "RAW_EMOTIONS",
]

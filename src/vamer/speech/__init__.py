"""Words when nobody typed them: offline speech recognition that fills the text half of the method.

- :mod:`vamer.speech.whisper`: Whisper base (two PyPI wheels, joined and checked once) through
  faster-whisper; :func:`load_recognizer`.
- :func:`character_error_rate`: how far recognised text is from a reference, spaces and
  punctuation ignored (jiwer's CER over what is left).

>>> character_error_rate(["불국사와 석굴암은"], ["불국사와 석고라면은"])
0.375
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

from vamer.data.table import TEXT_SOURCES
from vamer.speech.whisper import (
    ASR_NAMES,
    DEFAULT_LANGUAGE,
    WHISPER_BASE,
    Recognition,
    RecognitionUnavailable,
    WhisperRecognizer,
    load_recognizer,
    whisper_folder,
)

__all__ = [
    "ASR_NAMES",
    "DEFAULT_LANGUAGE",
    "TEXT_SOURCES",
    "WHISPER_BASE",
    "Recognition",
    "RecognitionUnavailable",
    "WhisperRecognizer",
    "character_error_rate",
    "comparable",
    "load_recognizer",
    "whisper_folder",
]


def comparable(text: str) -> str:
    """``text`` without spaces and punctuation, NFC, lower case: what a character error rate compares."""
    text = unicodedata.normalize("NFC", text or "").lower()
    return "".join(ch for ch in text if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def character_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Pooled character error rate (edits over reference characters, over all pairs), spaces and
    punctuation ignored.  Pairs whose reference is empty after that are left out."""
    import jiwer

    pairs = [(comparable(r), comparable(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        raise ValueError("no reference text to compare against")
    # jiwer counts characters of whole strings; a hypothesis may be empty (every character deleted).
    output = jiwer.process_characters([r for r, _ in pairs], [h for _, h in pairs])
    return float(output.cer)

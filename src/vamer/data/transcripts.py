"""KEMDy transcripts: reading their bytes (cp949 or UTF-8) and stripping the transcription tags.

The tags mark sound events, not words: ``c/`` continuous speech, ``n/`` one-off noise, ``N/``
noise over half the segment, ``u/`` unintelligible, ``l/`` a hum inside speech, ``b/`` breath or
cough, ``*`` an uncertain word, ``+`` a stutter, ``/`` an interjection.  Cleaning removes the
markers and keeps every word.

>>> clean_transcript("n/ 아 친구들도? l/")
'아 친구들도?'
>>> clean_transcript("그+ 그래서 어/ 뭐* 했어")
'그 그래서 어 뭐 했어'
"""

from __future__ import annotations

import re
from pathlib import Path

TAG_LETTERS = "cnNulb"
# A letter tag is a tag letter followed by '/', not glued to a preceding Latin letter (so a
# word like "and/or" keeps its letters).
_LETTER_TAG = re.compile(rf"(?<![A-Za-z])[{TAG_LETTERS}]/")
_MARKS = re.compile(r"[*+/]")
_SPACES = re.compile(r"\s+")


class TranscriptError(Exception):
    """The transcript file exists but cannot be decoded."""


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0/C1 control characters but tab and newline


def clean_transcript(raw: str) -> str:
    """Remove transcription tags and control characters and collapse whitespace; words are kept in
    order.  A text of control characters only (NULs from a broken file or form) is no text.

    >>> clean_transcript("n/ 아 친구들도? l/"), clean_transcript(chr(0) * 3), clean_transcript("네" + chr(0) + "요")
    ('아 친구들도?', '', '네 요')
    """
    text = _CONTROL.sub(" ", raw)
    text = _LETTER_TAG.sub(" ", text)
    text = _MARKS.sub(" ", text)
    # A mark between a syllable and punctuation ("뭐*?") leaves "뭐 ?"; glue punctuation back.
    text = _SPACES.sub(" ", text).strip()
    return re.sub(r" (?=[?!.,])", "", text)


def decode_transcript(data: bytes) -> str:
    """Decode transcript bytes: UTF-8 (with or without BOM) first, then cp949 (KEMDy20's encoding).

    UTF-8 goes first because cp949 bytes of Hangul are never valid UTF-8, while UTF-8 bytes can
    decode as cp949 into nonsense.
    """
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TranscriptError("neither UTF-8 nor cp949")


def read_transcript(path: Path) -> str:
    """Read a one-line transcript file and return its raw text (tags kept, lines joined)."""
    text = decode_transcript(Path(path).read_bytes())
    return " ".join(line.strip() for line in text.splitlines() if line.strip())

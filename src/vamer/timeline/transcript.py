"""A time-aligned transcript (SubRip ``.srt`` or WebVTT ``.vtt``, read by webvtt-py) and the words
it gives each speech segment.

>>> cues = read_cues("1\\n00:00:01,000 --> 00:00:02,500\\n안녕하세요\\n", "srt")
>>> cues, words_for([(0.9, 2.6), (3.0, 4.0)], cues)
([Cue(start_s=1.0, end_s=2.5, text='안녕하세요')], ['안녕하세요', ''])
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import webvtt
from webvtt.errors import MalformedFileError

from vamer.inference.intake import PredictionError
from vamer.limits import TimelineLimits

FORMATS = {".srt": "srt", ".vtt": "vtt"}
EXPECTED = {
    "srt": "expected numbered cues, each a line '1', a line '00:00:01,000 --> 00:00:02,500' and its words",
    "vtt": "expected 'WEBVTT', then cues of a line '00:00:01.000 --> 00:00:02.500' and its words",
}
PAST_END_TOLERANCE_S = 1.0  # subtitle tools round; a cue this far past the audio is not an error


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def transcript_format(name: str, text: str) -> str:
    """``srt`` or ``vtt``: from the file name's suffix, else from the text (WebVTT starts so)."""
    suffix = Path(name or "").suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    return "vtt" if text.lstrip("\ufeff").startswith("WEBVTT") else "srt"


def read_cues(text: str, kind: str) -> list[Cue]:
    """The cues of a transcript's text, in time order; a malformed file, or one without a single
    cue, is a PredictionError (``bad_transcript``)."""
    try:
        parsed = webvtt.from_buffer(io.StringIO(text.lstrip("\ufeff")), format=kind)
    except (MalformedFileError, ValueError, IndexError, AttributeError) as error:
        raise PredictionError(
            "bad_transcript", f"the transcript is not valid {kind.upper()} ({error or 'malformed'}): {EXPECTED[kind]}"
        ) from None
    cues = [
        Cue(
            caption.start_time.in_milliseconds() / 1000,
            caption.end_time.in_milliseconds() / 1000,
            " ".join(caption.text.split()),
        )
        for caption in parsed.captions
    ]
    if not cues:
        raise PredictionError("bad_transcript", f"the transcript holds no {kind.upper()} cue: {EXPECTED[kind]}")
    for cue in cues:
        if cue.end_s < cue.start_s:
            raise PredictionError(
                "bad_transcript",
                f"a cue ends ({cue.end_s:.3f} s) before it starts ({cue.start_s:.3f} s): {cue.text[:40]!r}",
            )
    return sorted(cues, key=lambda cue: cue.start_s)


def read_transcript_file(path: Path, name: str | None = None, limits: TimelineLimits = TimelineLimits()) -> list[Cue]:
    """The cues of a transcript file (UTF-8), within ``limits``."""
    try:
        size = Path(path).stat().st_size
        if size > limits.max_transcript_bytes:
            raise PredictionError("bad_transcript", _too_big(size, limits))
        raw = Path(path).read_bytes()
    except OSError as error:
        raise PredictionError("unreadable_file", f"transcript {path}: cannot be read ({error.strerror})") from None
    return decode_cues(raw, name or str(path), limits)


def _too_big(size: int, limits: TimelineLimits) -> str:
    return f"the transcript is {size:,} bytes; the limit is {limits.max_transcript_bytes:,}"


def decode_cues(raw: bytes, name: str, limits: TimelineLimits = TimelineLimits()) -> list[Cue]:
    """The cues of a transcript's bytes, which must be UTF-8, within ``limits``'s size and cue
    count (counted from the raw bytes before anything is parsed: parsing 300,000 cues takes
    seconds)."""
    if len(raw) > limits.max_transcript_bytes:
        raise PredictionError("bad_transcript", _too_big(len(raw), limits))
    arrows = raw.count(b"-->")
    if arrows > limits.max_cues:
        raise PredictionError(
            "bad_transcript", f"the transcript holds {arrows:,} cues; the limit is {limits.max_cues:,}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PredictionError("bad_transcript", "the transcript is not UTF-8; save it as UTF-8") from None
    return read_cues(text, transcript_format(name, text))


def check_cues_fit(cues: list[Cue], seconds: float) -> None:
    """Refuse a transcript whose times run past the recording: it belongs to another one."""
    late = [cue for cue in cues if cue.end_s > seconds + PAST_END_TOLERANCE_S]
    if late:
        raise PredictionError(
            "transcript_past_audio",
            f"the transcript runs to {late[-1].end_s:.1f} s but the "
            f"recording lasts {seconds:.1f} s ({len(late)} cue(s) past its "
            "end): is it the transcript of this recording?",
        )


def words_for(segments: list[tuple[float, float]], cues: list[Cue]) -> list[str]:
    """Each segment's words: every cue goes, whole, to the segment it overlaps most (none when it
    overlaps no segment: words spoken where the detector heard no speech are dropped)."""
    words: list[list[str]] = [[] for _ in segments]
    for cue in cues:
        overlaps = [min(end, cue.end_s) - max(start, cue.start_s) for start, end in segments]
        if overlaps and max(overlaps) > 0:
            words[overlaps.index(max(overlaps))].append(cue.text)
    return [" ".join(parts) for parts in words]

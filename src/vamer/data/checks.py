"""Per-row checks shared by every reader: emotion, ratings, wav header, transcript.

Each check returns either a value or a :class:`Reason` with a detail, so that readers
account for every row the same way.

>>> from vamer.data.config import DataConfig
>>> resolve_emotion("disqust", DataConfig(classes=["neutral", "happy", "surprise", "angry", "sad"]))
(None, <Reason.out_of_class: 'out_of_class'>, 'disgust is not in neutral, happy, surprise, angry, sad')
>>> parse_rating("3.4")
(3.4, None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile

from vamer.data.config import DataConfig, MultiLabelPolicy
from vamer.data.labels import parse_emotions
from vamer.data.table import TEXT_SOURCES, RowLedger
from vamer.data.transcripts import TranscriptError, clean_transcript, read_transcript
from vamer.reasons import Reason

RATING_RANGE = (1.0, 5.0)


def resolve_emotion(raw: object, config: DataConfig) -> tuple[str | None, Reason | None, str]:
    """Turn an annotation's emotion cell into one class label, or a reason to skip the row.

    Without a class set (``config.classes`` is None: a manifest's default) every label is a class.
    """
    open_vocabulary = config.classes is None
    known, unknown = parse_emotions(raw, open_vocabulary, config.classes or ())
    if unknown or not known:
        shown = ", ".join(unknown) if unknown else repr(raw)
        return None, Reason.unknown_label, f"unknown emotion {shown}"
    if len(known) > 1:
        if config.multi_label is MultiLabelPolicy.drop:
            return None, Reason.multi_label, f"several emotions: {';'.join(known)}"
        if config.multi_label is MultiLabelPolicy.first:
            known = known[:1]
        else:
            in_class = [label for label in known if open_vocabulary or label in config.classes]
            if len(in_class) != 1:
                return (
                    None,
                    Reason.multi_label,
                    (f"{';'.join(known)} has {len(in_class)} emotions in the class set"),
                )
            known = in_class
    label = known[0]
    if not open_vocabulary and label not in config.classes:
        return None, Reason.out_of_class, f"{label} is not in {', '.join(config.classes)}"
    return label, None, ""


def parse_rating(value: object) -> tuple[float, Reason | None]:
    """Parse one arousal/valence cell; empty gives NaN with ``missing_ratings``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan, Reason.missing_ratings
    text = str(value).strip()
    if not text:
        return math.nan, Reason.missing_ratings
    try:
        number = float(text)
    except ValueError:
        return math.nan, Reason.invalid_ratings
    if math.isnan(number):
        return math.nan, Reason.missing_ratings
    if not RATING_RANGE[0] <= number <= RATING_RANGE[1]:
        return number, Reason.invalid_ratings
    return number, None


@dataclass(frozen=True)
class WavInfo:
    duration_s: float
    sample_rate: int
    channels: int


def probe_wav(path: Path) -> tuple[WavInfo | None, Reason | None, str]:
    """Read a wav header (not its samples): its duration, rate and channels, or why it is unusable."""
    try:
        regular = path.is_file()
    except OSError as error:  # e.g. a name longer than the file system allows
        return None, Reason.unreadable_wav, f"{path}: {error.strerror or error}"
    if not regular:
        detail = f"{path} is not a regular file" if path.exists() or path.is_symlink() else f"no file {path}"
        return None, Reason.missing_wav, detail
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
        return None, Reason.unreadable_wav, f"{path.name}: {error}"
    if info.frames <= 0 or info.samplerate <= 0:
        return None, Reason.empty_wav, f"{path.name} has no samples"
    return WavInfo(info.frames / info.samplerate, int(info.samplerate), int(info.channels)), None, ""


def read_transcript_checked(path: Path) -> tuple[str | None, Reason | None, str]:
    """Raw transcript of ``path`` or why it cannot be had."""
    try:
        if not path.is_file():
            return None, Reason.missing_transcript, f"no file {path}"
        return read_transcript(path), None, ""
    except (TranscriptError, OSError) as error:
        return None, Reason.undecodable_transcript, f"{path.name}: {error}"


def text_fields(raw: str, source: str = "") -> dict[str, str]:
    """The raw and cleaned transcript, and where it came from: ``source`` as a manifest says (given
    when it does not say), none for a text that is empty once cleaned."""
    text = clean_transcript(raw)
    return {"text_raw": raw, "text": text, "text_source": (source or "given") if text else "none"}


@dataclass(frozen=True)
class RawRow:
    """One row as a reader found it, once its id is known: the utterance id, where it came from
    (``source``), the raw emotion and ratings (name -> cell), the wav, the transcript (``None``:
    the ``.txt`` beside the wav), and the reader's own columns (``fields``: dataset, session,
    speaker, times, votes..., and a manifest's ``text_source``: given, asr or none)."""

    utt_id: str
    source: str
    emotion_raw: str
    ratings_raw: dict[str, str]
    audio_path: Path
    text_raw: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def keep_if_valid(
    ledger: RowLedger,
    config: DataConfig,
    row: RawRow,
    ratings_optional: bool = False,
    transcript_optional: bool = False,
) -> None:
    """The one path every reader's rows take: emotion, ratings, wav header, transcript, in that
    order; the row is kept, or skipped with the first reason that applies.

    ``ratings_optional``: an empty rating is NaN instead of a skip (manifests).  With
    ``transcript_optional`` a missing transcript beside the wav is empty text.  A ``text_source``
    other than given, asr or none is a skip.
    """
    utt_id, source, audio_path, text_raw = row.utt_id, row.source, row.audio_path, row.text_raw
    fields = dict(row.fields)
    text_source = fields.pop("text_source", "") or ""
    if text_source not in ("", *TEXT_SOURCES):
        ledger.skip(
            utt_id,
            source,
            Reason.bad_text_source,
            f"text_source = {text_source!r}, not one of {', '.join(TEXT_SOURCES)}",
        )
        return
    emotion, reason, detail = resolve_emotion(row.emotion_raw, config)
    if reason:
        ledger.skip(utt_id, source, reason, detail)
        return
    ratings = {}
    for name, raw in row.ratings_raw.items():
        if ratings_optional and not raw:
            ratings[name] = math.nan
            continue
        value, reason = parse_rating(raw)
        if reason:
            ledger.skip(utt_id, source, reason, f"{name} = {raw!r}")
            return
        ratings[name] = value
    info, reason, detail = probe_wav(audio_path)
    if reason:
        ledger.skip(utt_id, source, reason, detail)
        return
    if not text_raw:
        transcript = audio_path.with_suffix(".txt")
        text_raw = ""
        if not transcript_optional or transcript.is_file():
            text_raw, reason, detail = read_transcript_checked(transcript)
            if reason:
                ledger.skip(utt_id, source, reason, detail)
                return
    ledger.keep(
        {
            "utt_id": utt_id,
            "audio_path": str(audio_path.resolve()),
            **fields,
            **text_fields(text_raw, text_source),
            "emotion": emotion,
            "emotion_raw": row.emotion_raw,
            **ratings,
            "duration_s": info.duration_s,
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "source": source,
        }
    )

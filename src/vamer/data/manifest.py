"""Any corpus through a manifest: a CSV or Parquet file with one row per utterance.

Columns: ``audio`` (path relative to the manifest's folder, or absolute) and ``emotion`` are
required; ``text``, ``arousal``, ``valence``, ``speaker``, ``session``, ``gender`` and ``utt_id``
are optional.  Without a ``text`` value, a ``.txt`` file beside the wav is used when one exists;
otherwise the utterance is kept with empty text (audio-only).  Without ``utt_id``, the audio path
relative to the manifest (minus its suffix) is the id.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from vamer.config import DataConfig
from vamer.data.checks import parse_rating, probe_wav, read_transcript_checked, resolve_emotion, text_fields
from vamer.data.table import RowLedger, SkipReason
from vamer.errors import VamerError

MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")
REQUIRED_COLUMNS = ("audio", "emotion")
OPTIONAL_COLUMNS = ("text", "arousal", "valence", "speaker", "session", "gender", "utt_id")


def read_table(path: Path) -> pd.DataFrame:
    """A manifest file as a DataFrame whose column names are stripped and lower-cased."""
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise VamerError(f"{path}: cannot read manifest ({type(error).__name__}: {error})") from None
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    return frame


def cell_text(value: object) -> str:
    """A manifest cell as stripped text; empty for None, NaN and NA (Parquet's missing values)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def read_manifest(path: Path, config: DataConfig) -> RowLedger:
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        raise VamerError(f"{path}: a manifest must be .csv or .parquet")
    frame = read_table(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise VamerError(
            f"{path}: manifest lacks column(s) {', '.join(missing)}; it has {', '.join(frame.columns) or 'none'}"
        )
    base = path.parent.resolve()
    is_csv = path.suffix.lower() == ".csv"
    ledger = RowLedger()
    for position, record in enumerate(frame.to_dict("records")):
        row = {column: cell_text(record.get(column)) for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
        # CSV rows are numbered as a spreadsheet shows them (header = line 1).
        source = f"{path.name}:{position + 2}" if is_csv else f"{path.name}#{position}"
        if not row["audio"]:
            ledger.skip(row["utt_id"] or None, source, SkipReason.missing_wav, "empty audio cell")
            continue
        audio = Path(row["audio"])
        audio_path = audio if audio.is_absolute() else base / audio
        utt_id = row["utt_id"] or (audio.with_suffix("").as_posix() if not audio.is_absolute() else audio.stem)
        if not ledger.claim_id(utt_id, source):
            continue
        emotion, reason, detail = resolve_emotion(row["emotion"], config)
        if reason:
            ledger.skip(utt_id, source, reason, detail)
            continue
        ratings = {}
        for name in ("arousal", "valence"):
            ratings[name] = math.nan
            if row[name]:
                value, reason = parse_rating(row[name])
                if reason:
                    ledger.skip(utt_id, source, reason, f"{name} = {row[name]!r}")
                    break
                ratings[name] = value
        else:
            info, reason, detail = probe_wav(audio_path)
            if reason:
                ledger.skip(utt_id, source, reason, detail)
                continue
            text_raw = row["text"]
            if not text_raw and audio_path.with_suffix(".txt").is_file():
                text_raw, reason, detail = read_transcript_checked(audio_path.with_suffix(".txt"))
                if reason:
                    ledger.skip(utt_id, source, reason, detail)
                    continue
            ledger.keep(
                {
                    "utt_id": utt_id,
                    "dataset": "manifest",
                    "session": row["session"] or None,
                    "speaker": row["speaker"] or None,
                    "gender": row["gender"].upper() or None,
                    "script": None,
                    "audio_path": str(audio_path.resolve()),
                    **text_fields(text_raw),
                    "emotion": emotion,
                    "emotion_raw": row["emotion"],
                    "emotion_votes": None,
                    **ratings,
                    "start_s": math.nan,
                    "end_s": math.nan,
                    "duration_s": info.duration_s,
                    "sample_rate": info.sample_rate,
                    "channels": info.channels,
                    "source": source,
                }
            )
    return ledger

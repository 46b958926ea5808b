"""Any corpus through a manifest: a CSV or Parquet file with one row per utterance.

Columns: ``audio`` (path relative to the manifest's folder, or absolute) and ``emotion`` are
required; ``text``, ``text_source`` (given | asr | none: where the text came from, as ``vamer data
transcribe`` writes it; given when absent), ``arousal``, ``valence``, ``speaker``, ``session``,
``gender`` and ``utt_id`` are optional.  Without a ``text`` value, a ``.txt`` file beside the wav
is used when one exists; otherwise the utterance is kept with empty text (audio-only).  Without
``utt_id``, the audio path relative to the manifest (minus its suffix) is the id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vamer.data.checks import RawRow, keep_if_valid
from vamer.data.config import DataConfig
from vamer.data.csvtext import decode, read_records
from vamer.data.table import RowLedger
from vamer.errors import VamerError
from vamer.reasons import Reason

MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")
REQUIRED_COLUMNS = ("audio", "emotion")
OPTIONAL_COLUMNS = ("text", "text_source", "arousal", "valence", "speaker", "session", "gender", "utt_id")


@dataclass(frozen=True)
class ManifestRow:
    """One data row of a manifest: where it is, its cells, or why it cannot be read."""

    source: str  # "m.csv:5" as a spreadsheet numbers lines (header = 1), "m.parquet#3" from 0
    cells: dict[str, str] = field(default_factory=dict)  # stripped text by lower-cased column
    problem: str = ""
    reason: Reason | None = None  # set with ``problem``


@dataclass(frozen=True)
class ManifestTable:
    columns: list[str]
    rows: list[ManifestRow]

    def cell(self, row: ManifestRow, column: str) -> str:
        return row.cells.get(column, "")


def _csv_table(path: Path) -> ManifestTable:
    try:
        text, encoding = decode(path.read_bytes(), ("utf-8-sig",))
    except OSError as error:
        raise VamerError(f"{path}: cannot read manifest ({error.strerror or error})") from None
    if encoding is None:
        raise VamerError(f"{path}: a CSV manifest must be UTF-8")
    records = [record for record in read_records(text) if not record.blank]
    if not records or records[0].fields is None:
        problem = records[0].problem if records else "no header row"
        raise VamerError(f"{path}: cannot read the manifest's header ({problem})")
    columns = [cell.strip().lower() for cell in records[0].fields]
    repeated = sorted({name for name in columns if columns.count(name) > 1 and name})
    if repeated:
        raise VamerError(f"{path}: manifest names column(s) {', '.join(repeated)} more than once")
    rows = []
    for record in records[1:]:
        source = f"{path.name}:{record.lines}"
        if record.fields is None:
            rows.append(ManifestRow(source, problem=record.problem, reason=Reason.unreadable_row))
        elif len(record.fields) > len(columns):
            rows.append(
                ManifestRow(
                    source,
                    problem=f"{len(record.fields)} fields, the header has {len(columns)}",
                    reason=Reason.malformed_row,
                )
            )
        else:
            rows.append(ManifestRow(source, {name: value.strip() for name, value in zip(columns, record.fields)}))
    return ManifestTable(columns, rows)


def read_table(path: Path) -> ManifestTable:
    """A manifest file's rows, column names stripped and lower-cased.

    A CSV row that cannot be parsed, or holds more fields than the header, comes back with its
    ``problem`` instead of cells, so that it is reported rather than shifted or fatal.  A row with
    fewer fields has its trailing cells empty.
    """
    if path.suffix.lower() == ".csv":
        return _csv_table(path)
    try:
        frame = pd.read_parquet(path)
    except (ValueError, OSError, ImportError) as error:
        raise VamerError(f"{path}: cannot read manifest ({type(error).__name__}: {error})") from None
    columns = [str(column).strip().lower() for column in frame.columns]
    rows = [
        ManifestRow(f"{path.name}#{position}", {name: cell_text(value) for name, value in zip(columns, values)})
        for position, values in enumerate(frame.itertuples(index=False, name=None))
    ]
    return ManifestTable(columns, rows)


def cell_text(value: object) -> str:
    """A manifest cell as stripped text; empty for None, NaN and NA (Parquet's missing values)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def _default_id(audio: Path) -> str:
    """The audio path minus its suffix: relative to the manifest as written, or the file's stem."""
    if audio.is_absolute():
        return audio.stem
    return audio.with_suffix("").as_posix() if audio.suffix else audio.as_posix()


def read_manifest(path: Path, config: DataConfig) -> RowLedger:
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        raise VamerError(f"{path}: a manifest must be .csv or .parquet")
    table = read_table(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise VamerError(
            f"{path}: manifest lacks column(s) {', '.join(missing)}; it has {', '.join(table.columns) or 'none'}"
        )
    base = path.parent.resolve()
    ledger = RowLedger()
    ledger.source_rows = len(table.rows)
    for entry in table.rows:
        source = entry.source
        if entry.reason is not None:
            ledger.skip(None, source, entry.reason, entry.problem)
            continue
        row = {column: table.cell(entry, column) for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
        if not row["audio"]:
            ledger.skip(row["utt_id"] or None, source, Reason.missing_wav, "empty audio cell")
            continue
        audio = Path(row["audio"])
        audio_path = audio if audio.is_absolute() else base / audio
        utt_id = row["utt_id"] or _default_id(audio) or row["audio"]
        if not ledger.claim_id(utt_id, source):
            continue
        raw = RawRow(
            utt_id,
            source,
            row["emotion"],
            {name: row[name] for name in ("arousal", "valence")},
            audio_path,
            row["text"] or None,
            {
                "dataset": "manifest",
                "session": row["session"] or None,
                "speaker": row["speaker"] or None,
                "gender": row["gender"].upper() or None,
                "script": None,
                "emotion_votes": None,
                "start_s": math.nan,
                "end_s": math.nan,
                "text_source": row["text_source"].lower(),
            },
        )
        keep_if_valid(ledger, config, raw, ratings_optional=True, transcript_optional=True)
    return ledger

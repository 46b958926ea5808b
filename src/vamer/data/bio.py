"""Bio-signal CSVs of KEMDy (Empatica E4 EDA/TEMP/IBI, and ECG in KEMDy19) as one tidy table.

On disk (KEMDy20)::

    EDA/Session01/Sess01_script01_User001F.csv   2 header lines, then value,timestamp[,segment_id] at 4 Hz
    TEMP/...                                     same layout
    IBI/...                                      1 header line, then time_diff,ibi,timestamp[,segment_id]

Rows between segments carry no segment id (one field fewer).  Rather than trusting a header-line
count, a data row is recognised by its timestamp (``2020-0821-1128-57-250``); the value is the
field before the timestamp and the segment id the field after it, which fits every layout above.
The result has the columns of :data:`vamer.data.table.BIO_COLUMNS`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from vamer.data.table import BIO_COLUMNS

BIO_SIGNALS = ("EDA", "TEMP", "IBI", "ECG")
TIMESTAMP = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{2}-\d{3}$")
TIMESTAMP_FORMAT = "%Y-%m%d-%H%M-%S-%f"
_SESSION_FOLDER = re.compile(r"^Session(\d{2})$", re.IGNORECASE)
_SESSION_IN_NAME = re.compile(r"Sess(\d{2})")
_KEMDY20_SPEAKER = re.compile(r"User\d{3}[FM]")
_KEMDY19_SPEAKER = re.compile(r"^Sess(\d{2})_[A-Za-z]+\d{2}_([FM])")
_ISSUE_COLUMNS = ["file", "signal", "rows", "reason"]


def _file_identity(path: Path) -> tuple[str | None, str | None]:
    """Session and speaker of a bio file, from its folder and name."""
    session = None
    for parent in path.parents:
        folder = _SESSION_FOLDER.match(parent.name)
        if folder:
            session = f"Sess{folder[1]}"
            break
    if session is None and (in_name := _SESSION_IN_NAME.search(path.stem)):
        session = f"Sess{in_name[1]}"
    if speaker := _KEMDY20_SPEAKER.search(path.stem):
        return session, speaker[0]
    if kemdy19 := _KEMDY19_SPEAKER.match(path.stem):
        return session, f"Sess{kemdy19[1]}_{kemdy19[2]}"
    return session, None


def read_bio_file(path: Path, signal: str) -> tuple[pd.DataFrame, list[dict]]:
    """One bio CSV as tidy rows, plus issue records for rows that could not be parsed."""
    relative = path.as_posix()
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    first_data = None
    timestamp_column = None
    for index, line in enumerate(lines[:20]):
        fields = [f.strip() for f in line.split(",")]
        hits = [i for i, f in enumerate(fields) if TIMESTAMP.match(f)]
        if hits and hits[0] > 0:
            first_data, timestamp_column = index, hits[0]
            break
    if first_data is None:
        issue = {"file": relative, "signal": signal, "rows": len(lines), "reason": "no timestamped rows"}
        return pd.DataFrame(columns=list(BIO_COLUMNS)), [issue]
    body = lines[first_data:]
    width = max(line.count(",") for line in body) + 1 if body else 1
    raw = pd.read_csv(
        io.StringIO("\n".join(body)),
        header=None,
        names=list(range(width)),
        dtype=str,
        skip_blank_lines=True,
        keep_default_na=False,
    )
    value = pd.to_numeric(raw[timestamp_column - 1].str.strip(), errors="coerce")
    timestamp = pd.to_datetime(raw[timestamp_column].str.strip(), format=TIMESTAMP_FORMAT, errors="coerce")
    if timestamp_column + 1 < width:
        utt_id = raw[timestamp_column + 1].str.strip().replace("", pd.NA)
    else:
        utt_id = pd.Series(pd.NA, index=raw.index, dtype="string")
    good = value.notna() & timestamp.notna()
    issues = []
    if (~good).any():
        issues.append(
            {"file": relative, "signal": signal, "rows": int((~good).sum()), "reason": "unparseable value or timestamp"}
        )
    session, speaker = _file_identity(path)
    timestamp = timestamp[good]
    frame = pd.DataFrame(
        {
            "utt_id": utt_id[good].astype("string"),
            "session": session,
            "speaker": speaker,
            "recording": path.stem,
            "signal": signal,
            "timestamp": timestamp,
            "t": (timestamp - timestamp.min()).dt.total_seconds(),
            "value": value[good].astype("float64"),
        }
    )
    return frame, issues


def read_bio(root: Path) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Every bio-signal folder under ``root`` as one tidy table (``None`` when there is none)."""
    frames: list[pd.DataFrame] = []
    issues: list[dict] = []
    for signal in BIO_SIGNALS:
        folder = root / signal
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.csv")):
            frame, file_issues = read_bio_file(path, signal)
            issues.extend({**issue, "file": path.relative_to(root).as_posix()} for issue in file_issues)
            if len(frame):
                frames.append(frame)
    issue_frame = pd.DataFrame(issues, columns=_ISSUE_COLUMNS)
    if not frames:
        return None, issue_frame
    bio = pd.concat(frames, ignore_index=True)
    for column in ("session", "speaker", "recording", "signal"):
        bio[column] = bio[column].astype("category")
    return bio[list(BIO_COLUMNS)], issue_frame

"""``vamer predict`` on many inputs: gather files, folders and manifests; write one row per input.

Output columns (CSV, or one JSON object per line for ``.jsonl``):

    input          the path as given (or the manifest's utt_id when it has one)
    label          predicted class; empty when the input failed
    p_<class>      probability of each class
    arousal, valence, duration_s, audio_seconds, truncated, sample_rate, channels,
    text, text_source, audio_only, notes ("; "-joined), engine
    error, error_kind   why an input could not be predicted (empty when it was)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from vamer.data.manifest import read_table
from vamer.errors import VamerError
from vamer.fileio import record_written, refuse_overwrite, write_text_atomic
from vamer.inference.predictor import AUDIO_SUFFIXES, Predictor

OUTPUT_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class Request:
    name: str
    audio: Path
    text: str | None
    refused: tuple[str, str] | None = None  # (error_kind, error) known before any audio is read


def _folder_audio(folder: Path) -> list[Path]:
    """Every entry under ``folder`` named like audio, files or not: a broken link, a FIFO or a folder
    called ``x.wav`` gets its own error row instead of vanishing."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system, for example: reported when it is read
        return False


def gather(inputs: list[Path], manifest: Path | None = None, text: str | None = None) -> list[Request]:
    """Requests from files, folders (their audio files, recursively) and a manifest (column ``audio``,
    relative to the manifest's folder; optional ``text`` and ``utt_id``).  A manifest row that
    cannot be read becomes a request that is already refused, so it still gets its output row."""
    requests: list[Request] = []
    for path in inputs:
        if _is_dir(path):
            found = _folder_audio(path)
            if not found:
                raise VamerError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            requests.extend(Request(str(p), p, None) for p in found)
        else:
            requests.append(Request(str(path), path, None))
    if manifest is not None:
        table = read_table(manifest)
        if "audio" not in table.columns:
            raise VamerError(f"{manifest}: a prediction manifest needs an 'audio' column; it has "
                             f"{', '.join(table.columns) or 'none'}")
        base = manifest.parent.resolve()
        for row in table.rows:
            if row.reason is not None:
                requests.append(Request(row.source, base, None, (row.reason.value, f"{row.source}: {row.problem}")))
                continue
            cell = table.cell(row, "audio")
            name = table.cell(row, "utt_id") or cell or row.source
            if not cell:
                requests.append(Request(name, base, None, ("not_found", f"{row.source}: empty audio cell")))
                continue
            audio = Path(cell)
            requests.append(Request(name, audio if audio.is_absolute() else base / audio,
                                    table.cell(row, "text") or None))
    if text is not None:
        if len(requests) != 1:
            raise VamerError("--text goes with exactly one input; give several texts through a manifest's text column")
        requests[0] = Request(requests[0].name, requests[0].audio, text, requests[0].refused)
    if not requests:
        raise VamerError("nothing to predict: give audio files, folders or --manifest")
    return requests


def predict_requests(predictor: Predictor, requests: list[Request], batch_size: int = 16,
                     progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """One row per request, in order; a request that fails has ``error``/``error_kind`` and no label."""
    readable = [r for r in requests if r.refused is None]
    predicted = iter(predictor.predict_many(((r.audio, r.text) for r in readable), batch_size, progress))
    rows = []
    for request in requests:
        if request.refused is not None:
            result = {"error_kind": request.refused[0], "error": request.refused[1]}
            if progress:
                progress(1)
        else:
            result = next(predicted)
        row: dict[str, Any] = {"input": request.name, "label": result.get("label", "")}
        row.update({f"p_{c}": result.get("probabilities", {}).get(c) for c in predictor.classes})
        for key in ("arousal", "valence", "duration_s", "audio_seconds", "truncated", "sample_rate", "channels",
                    "text", "text_source", "audio_only", "engine"):
            row[key] = result.get(key)
        row["notes"] = "; ".join(result.get("notes", []))
        row["error"], row["error_kind"] = result.get("error", ""), result.get("error_kind", "")
        rows.append(row)
    return pd.DataFrame(rows)


def check_output(out: Path, force: bool) -> None:
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise VamerError(f"{out}: write results to a .csv or .jsonl file")
    refuse_overwrite(out, force)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheet programs read as a formula


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas: a cell that begins
    with one of :data:`FORMULA_STARTS` gets a leading apostrophe (OWASP's advice against CSV
    injection).  Numbers are left alone: -0.5 stays a number.

    >>> neutralised(pd.DataFrame({"text": ["=1+2", "fine", "-x"], "p": [-0.5, 0.1, 0.2]})).to_dict("list")
    {'text': ["'=1+2", 'fine', "'-x"], 'p': [-0.5, 0.1, 0.2]}
    """
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v)
    return safe


def write_results(frame: pd.DataFrame, out: Path, force: bool = False) -> None:
    """Write the result rows as CSV (text cells neutralised against formula injection) or JSON Lines
    (values as they are: JSON is not read as formulas)."""
    check_output(out, force)
    if out.suffix.lower() == ".csv":
        write_text_atomic(out, neutralised(frame).to_csv(index=False))
    else:
        lines = (json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()},
                            ensure_ascii=False) for row in frame.to_dict("records"))
        write_text_atomic(out, "".join(line + "\n" for line in lines))
    record_written(out)

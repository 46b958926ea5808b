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

from vamer.data.manifest import cell_text, read_table
from vamer.errors import VamerError
from vamer.fileio import record_written, refuse_overwrite, write_text_atomic
from vamer.inference.predictor import AUDIO_SUFFIXES, Predictor

OUTPUT_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class Request:
    name: str
    audio: Path
    text: str | None


def gather(inputs: list[Path], manifest: Path | None = None, text: str | None = None) -> list[Request]:
    """Requests from files, folders (their audio files, recursively) and a manifest (column ``audio``,
    relative to the manifest's folder; optional ``text`` and ``utt_id``)."""
    requests: list[Request] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            if not found:
                raise VamerError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            requests.extend(Request(str(p), p, None) for p in found)
        else:
            requests.append(Request(str(path), path, None))
    if manifest is not None:
        frame = read_table(manifest)
        if "audio" not in frame.columns:
            raise VamerError(f"{manifest}: a prediction manifest needs an 'audio' column; it has "
                             f"{', '.join(frame.columns) or 'none'}")
        base = manifest.parent.resolve()
        for record in frame.to_dict("records"):
            audio = Path(cell_text(record["audio"]))
            audio = audio if audio.is_absolute() else base / audio
            name = cell_text(record.get("utt_id")) or cell_text(record["audio"])
            requests.append(Request(name, audio, cell_text(record.get("text")) or None))
    if text is not None:
        if len(requests) != 1:
            raise VamerError("--text goes with exactly one input; give several texts through a manifest's text column")
        requests[0] = Request(requests[0].name, requests[0].audio, text)
    if not requests:
        raise VamerError("nothing to predict: give audio files, folders or --manifest")
    return requests


def predict_requests(predictor: Predictor, requests: list[Request], batch_size: int = 16,
                     progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    results = predictor.predict_many(((r.audio, r.text) for r in requests), batch_size, progress)
    rows = []
    for request, result in zip(requests, results):
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


def write_results(frame: pd.DataFrame, out: Path, force: bool = False) -> None:
    check_output(out, force)
    if out.suffix.lower() == ".csv":
        write_text_atomic(out, frame.to_csv(index=False))
    else:
        lines = (json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()},
                            ensure_ascii=False) for row in frame.to_dict("records"))
        write_text_atomic(out, "".join(line + "\n" for line in lines))
    record_written(out)

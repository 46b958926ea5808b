"""Empatica-E4-like bio-signals for the demo corpus, written in KEMDy20's CSV layout.

By construction EDA responds weakly to each of the wearer's segments in proportion to arousal,
while TEMP and IBI carry no emotion at all: the bio-signal study should find one positive and one
negative result.  Some sessions lose EDA stretches and IBI drops beats, like the real E4 files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

EDA_TEMP_HZ = 4.0
PRE_ROLL_S = 5.0  # the wristband starts recording a little before the script begins


@dataclass(frozen=True)
class TimedSegment:
    utt_id: str
    speaker: str
    start_s: float
    end_s: float
    arousal: float


def format_timestamp(moment: datetime) -> str:
    """KEMDy's timestamp spelling, e.g. ``2020-0821-1128-57-250``."""
    return f"{moment:%Y-%m%d-%H%M-%S}-{moment.microsecond // 1000:03d}"


def _segment_at(times: np.ndarray, segments: list[TimedSegment]) -> list[str | None]:
    labels: list[str | None] = [None] * len(times)
    for segment in segments:
        inside = np.nonzero((times >= segment.start_s) & (times < segment.end_s))[0]
        for index in inside:
            labels[index] = segment.utt_id
    return labels


def _rows(values: np.ndarray, times: np.ndarray, start: datetime, labels: list[str | None], fmt: str) -> list[str]:
    rows = []
    for value, t, label in zip(values, times, labels):
        stamp = format_timestamp(start + timedelta(seconds=float(t) + PRE_ROLL_S))
        fields = [format(value, fmt), stamp] if label is None else [format(value, fmt), stamp, label]
        rows.append(",".join(fields))
    return rows


def _eda(times: np.ndarray, own: list[TimedSegment], rng: np.random.Generator) -> np.ndarray:
    tonic = rng.uniform(1.0, 5.0) + np.cumsum(rng.normal(0, 0.002, len(times)))
    phasic = np.zeros(len(times))
    for segment in own:
        # Skin-conductance response about 0.5 s after speech starts, scaled weakly by arousal.
        amplitude = max(0.0, 0.5 * (segment.arousal - 2.4) + rng.normal(0, 0.05))
        lag = times - (segment.start_s + 0.5)
        shape = np.where(lag > 0, (1 - np.exp(-np.clip(lag, 0, None) / 0.7)) * np.exp(-np.clip(lag, 0, None) / 5.0), 0)
        phasic += amplitude * shape
    return np.clip(tonic + phasic + rng.normal(0, 0.01, len(times)), 0.01, None)


def _temp(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    drift = np.cumsum(rng.normal(0, 0.003, len(times)))
    return np.round(rng.uniform(32.0, 34.5) + drift + rng.normal(0, 0.02, len(times)), 2)


def _drop_window(keep: np.ndarray, fraction: float, rng: np.random.Generator) -> None:
    width = int(len(keep) * fraction)
    if width:
        start = int(rng.integers(0, len(keep) - width + 1))
        keep[start : start + width] = False


def write_speaker_recording(
    root: Path,
    session_folder: str,
    file_stem: str,
    duration_s: float,
    start: datetime,
    own_segments: list[TimedSegment],
    rng: np.random.Generator,
    gaps: tuple[float, float],
) -> None:
    """Write EDA, TEMP and IBI files of one speaker for one script (``file_stem`` like Sess01_script01_User001F)."""
    length = duration_s + PRE_ROLL_S + 3.0
    times = np.arange(0.0, length, 1.0 / EDA_TEMP_HZ) - PRE_ROLL_S
    labels = _segment_at(times, own_segments)
    unix = start.timestamp()

    eda_keep = np.ones(len(times), dtype=bool)
    eda_gap, ibi_gap = gaps  # the share of each signal left empty, as KEMDy's EDA and IBI have
    _drop_window(eda_keep, eda_gap, rng)
    eda = _eda(times, own_segments, rng)
    header = [f"{unix:.6f}", f"{EDA_TEMP_HZ:.6f}"]
    for signal, values, keep in (("EDA", eda, eda_keep), ("TEMP", _temp(times, rng), np.ones(len(times), bool))):
        rows = _rows(values[keep], times[keep], start, [label for label, k in zip(labels, keep) if k], ".6f")
        _write(root / signal / session_folder / f"{file_stem}.csv", header + rows)

    mean_ibi = rng.uniform(0.68, 0.92)
    intervals = np.clip(rng.normal(mean_ibi, 0.04, int(length / 0.5) + 4), 0.4, 1.4)
    beats = np.cumsum(intervals) - PRE_ROLL_S
    beats = beats[beats < duration_s + 3.0]
    keep = rng.random(len(beats)) > 0.25  # the E4 misses beats it cannot detect cleanly
    _drop_window(keep, ibi_gap, rng)
    beat_labels = _segment_at(beats, own_segments)
    rows = []
    # The E4 reports an interval only between two beats it detected in a row.
    for index in np.nonzero(keep[1:] & keep[:-1])[0] + 1:
        t = float(beats[index])
        stamp = format_timestamp(start + timedelta(seconds=t + PRE_ROLL_S))
        fields = [f"{t + PRE_ROLL_S:.6f}", f"{float(beats[index] - beats[index - 1]):.6f}", stamp]
        if beat_labels[index] is not None:
            fields.append(beat_labels[index])
        rows.append(",".join(fields))
    _write(root / "IBI" / session_folder / f"{file_stem}.csv", [f"{unix:.6f}, IBI"] + rows)


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

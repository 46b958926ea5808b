"""Bio-signals against segments: coverage, gaps, time plots and per-segment association tests.

Input is the tidy bio table of :mod:`vamer.data.bio` (``utt_id, session, speaker, recording,
signal, timestamp, t, value``) and the utterance table.  Each segment's signal is measured as an
event-related response against the seconds just before it, scaled by its own recording's spread
(one wearer, one script), so that differences between wearers and days do not pass for emotion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pingouin
from statsmodels.stats.multitest import multipletests

GAP_FACTOR = 4.0  # a pause longer than 4 median sampling intervals ...
GAP_MIN_S = 2.0  # ... and longer than 2 s is a gap
BASELINE_S = 2.0  # pre-segment window that a segment's response is measured against


def coverage(utterances: pd.DataFrame, bio: pd.DataFrame) -> pd.DataFrame:
    """Share of each session's kept segments with at least one sample, per signal.

    Columns: session, signal, segments, covered, share.
    """
    rows = []
    covered_by_signal = {
        signal: set(group["utt_id"].dropna()) for signal, group in bio.groupby("signal", observed=True)
    }
    for session, segments in utterances.groupby("session", sort=True):
        for signal, covered in covered_by_signal.items():
            has = segments["utt_id"].isin(covered)
            rows.append(
                {
                    "session": session,
                    "signal": signal,
                    "segments": int(len(segments)),
                    "covered": int(has.sum()),
                    "share": float(has.mean()),
                }
            )
    return pd.DataFrame(rows, columns=["session", "signal", "segments", "covered", "share"])


def gaps(bio: pd.DataFrame) -> pd.DataFrame:
    """Stretches without samples inside each recording.

    Columns: session, recording, signal, start, end, seconds.
    """
    found = []
    for (recording, signal), group in bio.groupby(["recording", "signal"], observed=True, sort=True):
        times = np.sort(group["t"].to_numpy())
        if len(times) < 3:
            continue
        steps = np.diff(times)
        limit = max(GAP_FACTOR * float(np.median(steps)), GAP_MIN_S)
        start_stamp = group["timestamp"].min()
        for index in np.nonzero(steps > limit)[0]:
            found.append(
                {
                    "session": str(group["session"].iloc[0]),
                    "recording": str(recording),
                    "signal": str(signal),
                    "start": start_stamp + pd.Timedelta(seconds=float(times[index])),
                    "end": start_stamp + pd.Timedelta(seconds=float(times[index + 1])),
                    "seconds": float(steps[index]),
                }
            )
    return pd.DataFrame(found, columns=["session", "recording", "signal", "start", "end", "seconds"])


def segment_responses(bio: pd.DataFrame, baseline_s: float = BASELINE_S) -> tuple[pd.DataFrame, list[str]]:
    """Event-related response of each segment, per signal.

    ``response_z`` = (mean inside the segment - mean over the ``baseline_s`` seconds before it) /
    the recording's standard deviation: the usual skin-conductance-response measure, applied alike
    to every signal.  A segment without samples in its baseline window gets no response.

    Returns (frame with utt_id, signal, samples, response_z; notes on what was left out).
    """
    notes = []
    rows = []
    constant = []
    no_baseline = 0
    for (recording, signal), group in bio.groupby(["recording", "signal"], observed=True, sort=True):
        group = group.sort_values("t")
        times = group["t"].to_numpy()
        values = group["value"].to_numpy()
        spread = float(values.std())
        if len(values) < 2 or spread == 0:
            constant.append(f"{recording} ({signal})")
            continue
        spans = group.dropna(subset=["utt_id"]).groupby("utt_id", observed=True)["t"].agg(["min", "max"])
        for utt_id, (start, end) in spans.iterrows():
            inside = values[(times >= start) & (times <= end)]
            before = values[(times >= start - baseline_s) & (times < start)]
            if len(before) == 0:
                no_baseline += 1
                continue
            rows.append(
                {
                    "utt_id": str(utt_id),
                    "signal": str(signal),
                    "samples": int(len(inside)),
                    "response_z": float((inside.mean() - before.mean()) / spread),
                }
            )
    if constant:
        more = f" and {len(constant) - 5} more" if len(constant) > 5 else ""
        notes.append(
            f"{len(constant)} recordings are constant or have one sample and are left out: "
            f"{', '.join(constant[:5])}{more}"
        )
    if no_baseline:
        notes.append(
            f"{no_baseline} segment-signal pairs have no sample in the {baseline_s:g} s before the segment "
            "and get no response value"
        )
    return pd.DataFrame(rows, columns=["utt_id", "signal", "samples", "response_z"]), notes


def association(responses: pd.DataFrame, utterances: pd.DataFrame, classes: list[str]) -> dict[str, Any]:
    """Per signal: Kruskal-Wallis of response_z across emotions and Spearman with arousal and valence.

    Returns raw p-values; :func:`holm` adjusts them once every test of the study is known.
    """
    joined = responses.merge(utterances[["utt_id", "emotion", "arousal", "valence"]], on="utt_id", how="inner")
    joined = joined[joined["emotion"].isin(classes)]
    tests: list[dict[str, Any]] = []
    for signal, group in joined.groupby("signal", sort=True):
        present = [c for c in classes if (group["emotion"] == c).sum() >= 2]
        if len(present) >= 2:
            result = pingouin.kruskal(
                data=group[group["emotion"].isin(present)], dv="response_z", between="emotion"
            ).iloc[0]
            tests.append(
                {
                    "signal": signal,
                    "test": "kruskal_emotion",
                    "n": int(len(group)),
                    "statistic": float(result["H"]),
                    "effect": None,
                    "p": float(result["p_unc"]),
                }
            )
        for rating in ("arousal", "valence"):
            pairs = group[["response_z", rating]].dropna()
            if len(pairs) >= 3 and pairs[rating].nunique() > 1:
                result = pingouin.corr(pairs["response_z"], pairs[rating], method="spearman").iloc[0]
                tests.append(
                    {
                        "signal": signal,
                        "test": f"spearman_{rating}",
                        "n": int(result["n"]),
                        "statistic": float(result["r"]),
                        "effect": float(result["r"]),
                        "p": float(result["p_val"]),
                    }
                )
    return {"tests": tests, "per_class": _class_means(joined, classes)}


def holm(tests: list[dict[str, Any]], alpha: float) -> None:
    """Add ``p_holm`` and ``significant`` to each test: Holm's correction over the whole family."""
    if not tests:
        return
    adjusted = multipletests([t["p"] for t in tests], alpha=alpha, method="holm")[1]
    for test, p_adj in zip(tests, adjusted):
        test["p_holm"] = float(p_adj)
        test["significant"] = bool(p_adj < alpha)


def _class_means(joined: pd.DataFrame, classes: list[str]) -> dict[str, dict[str, float | None]]:
    out = {}
    for signal, group in joined.groupby("signal", sort=True):
        means = group.groupby("emotion")["response_z"].mean()
        out[signal] = {label: (float(means[label]) if label in means else None) for label in classes}
    return out


def segment_spans(bio: pd.DataFrame) -> pd.DataFrame:
    """First and last sample time of each segment in each recording (for shading time plots)."""
    inside = bio.dropna(subset=["utt_id"])
    spans = inside.groupby(["recording", "utt_id"], observed=True)["timestamp"].agg(["min", "max"]).reset_index()
    return spans.rename(columns={"min": "start", "max": "end"})

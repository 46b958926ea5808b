"""Arousal and valence against the emotion classes: the test chain the method used to decide that
arousal and valence are worth pretraining on.

descriptives -> normality per group -> Bartlett and Levene -> classic or Welch ANOVA -> Tukey HSD
or Games-Howell.  Every test is pingouin's (scipy underneath); this module only chains them and
records why each choice was made.

>>> import pandas as pd
>>> frame = pd.DataFrame({"emotion": ["a"] * 4 + ["b"] * 4, "arousal": [1, 2, 2, 3, 4, 4, 5, 5.0]})
>>> stats = rating_statistics(frame, ["a", "b"], "arousal", alpha=0.05)
>>> stats["anova"]["test"], round(stats["anova"]["F"], 2)
('anova', 25.0)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pingouin

NORMALITY_RULE_N = 30  # the slides assume normal group means for n > 30 (central limit theorem)
SHAPIRO_MAX_N = 5000  # above this scipy's Shapiro-Wilk p-value is not reliable; use D'Agostino


def _float(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def describe(frame: pd.DataFrame, classes: list[str], rating: str) -> list[dict[str, Any]]:
    rows = []
    for label in classes:
        values = frame.loc[frame["emotion"] == label, rating]
        rows.append(
            {
                "class": label,
                "n": int(len(values)),
                "mean": _float(values.mean()) if len(values) else None,
                "std": _float(values.std(ddof=1)) if len(values) > 1 else None,
                "median": _float(values.median()) if len(values) else None,
            }
        )
    return rows


def normality(frame: pd.DataFrame, groups: list[str], rating: str, alpha: float) -> list[dict[str, Any]]:
    rows = []
    for label in groups:
        values = frame.loc[frame["emotion"] == label, rating].to_numpy(dtype=float)
        method = "shapiro" if len(values) <= SHAPIRO_MAX_N else "normaltest"
        row: dict[str, Any] = {
            "class": label,
            "n": int(len(values)),
            "n_over_30": bool(len(values) > NORMALITY_RULE_N),
            "test": method,
            "statistic": None,
            "p": None,
            "normal": None,
            "note": "",
        }
        minimum = 4 if method == "shapiro" else 8  # pingouin's Shapiro-Wilk needs n > 3
        if len(values) < minimum:
            row["note"] = f"n < {minimum}: no {method} test"
        elif np.ptp(values) == 0:
            row["note"] = "constant ratings: no normality test"
        else:
            result = pingouin.normality(values, method=method, alpha=alpha).iloc[0]
            row.update(statistic=_float(result.iloc[0]), p=_float(result["pval"]), normal=bool(result["normal"]))
        rows.append(row)
    return rows


def homoscedasticity(frame: pd.DataFrame, rating: str, alpha: float) -> dict[str, Any]:
    out = {}
    for method in ("bartlett", "levene"):
        result = pingouin.homoscedasticity(frame, dv=rating, group="emotion", method=method, alpha=alpha).iloc[0]
        out[method] = {
            "statistic": _float(result.iloc[0]),
            "p": _float(result["pval"]),
            "equal_var": bool(result["equal_var"]),
        }
    return out


def rating_statistics(utterances: pd.DataFrame, classes: list[str], rating: str, alpha: float) -> dict[str, Any]:
    """Every number of the arousal- or valence-vs-emotion analysis, with notes on what was left out."""
    notes: list[str] = []
    frame = utterances.loc[utterances["emotion"].isin(classes), ["emotion", rating]].copy()
    frame[rating] = pd.to_numeric(frame[rating], errors="coerce").astype(float)
    missing = int(frame[rating].isna().sum())
    if missing:
        notes.append(f"{missing} utterances have no {rating} rating and are left out")
    frame = frame.dropna()
    out: dict[str, Any] = {
        "rating": rating,
        "n": int(len(frame)),
        "groups": describe(frame, classes, rating),
        "notes": notes,
    }
    counts = frame["emotion"].value_counts()
    small = [label for label in classes if counts.get(label, 0) < 2]
    if small:
        notes.append(f"classes with fewer than 2 {rating} ratings are left out of the tests: {', '.join(small)}")
    groups = [label for label in classes if counts.get(label, 0) >= 2]
    flat = [label for label in groups if np.ptp(frame.loc[frame["emotion"] == label, rating]) == 0]
    if flat and len(flat) < len(groups):
        # A group without variance has infinite weight in Welch's ANOVA and breaks Bartlett.
        notes.append(f"classes whose {rating} ratings are all equal are left out of the tests: {', '.join(flat)}")
        groups = [label for label in groups if label not in flat]
    if len(groups) < 2:
        notes.append(f"fewer than two classes have 2 or more {rating} ratings: no test is possible")
        out["skipped"] = notes[-1]
        return out
    frame = frame[frame["emotion"].isin(groups)]
    if all(np.ptp(frame.loc[frame["emotion"] == g, rating]) == 0 for g in groups):
        notes.append(f"every class has constant {rating} ratings: no variance to test")
        out["skipped"] = notes[-1]
        return out
    out["tested_classes"] = groups
    out["normality"] = normality(frame, groups, rating, alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero-variance groups make Bartlett infinite
        out["homoscedasticity"] = homoscedasticity(frame, rating, alpha)
    with warnings.catch_warnings():
        # pingouin 0.7 calls DataFrame.dropna(inplace=True), which pandas 3.1 deprecates; not ours to fix.
        warnings.filterwarnings("ignore", message="The inplace keyword")
        out.update(_anova_and_posthoc(frame, rating, alpha, out["homoscedasticity"]))
    return out


def _anova_and_posthoc(
    frame: pd.DataFrame, rating: str, alpha: float, variances: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    equal = all(test["equal_var"] for test in variances.values())
    if equal:
        reason = "neither Bartlett nor Levene rejects equal variances: classic one-way ANOVA, Tukey HSD"
        table = pingouin.anova(data=frame, dv=rating, between="emotion", detailed=False).iloc[0]
        posthoc = pingouin.pairwise_tukey(data=frame, dv=rating, between="emotion")
        p_column = "p_tukey"
    else:
        rejected = [name.capitalize() for name, test in variances.items() if not test["equal_var"]]
        verb = "reject" if len(rejected) > 1 else "rejects"
        reason = f"{' and '.join(rejected)} {verb} equal variances: Welch ANOVA, Games-Howell post-hoc"
        table = pingouin.welch_anova(data=frame, dv=rating, between="emotion").iloc[0]
        posthoc = pingouin.pairwise_gameshowell(data=frame, dv=rating, between="emotion")
        p_column = "pval"
    out["anova"] = {
        "test": "anova" if equal else "welch_anova",
        "why": reason,
        "F": _float(table["F"]),
        "ddof1": _float(table["ddof1"]),
        "ddof2": _float(table["ddof2"]),
        "p": _float(table["p_unc"]),
        "np2": _float(table["np2"]),
        "significant": bool(table["p_unc"] < alpha),
    }
    out["posthoc"] = {
        "test": "tukey" if equal else "games_howell",
        "pairs": [
            {
                "A": row["A"],
                "B": row["B"],
                "mean_A": _float(row["mean_A"]),
                "mean_B": _float(row["mean_B"]),
                "diff": _float(row["diff"]),
                "p": _float(row[p_column]),
                "hedges_g": _float(row["hedges"]),
                "significant": bool(row[p_column] < alpha),
            }
            for _, row in posthoc.iterrows()
        ],
    }
    return out

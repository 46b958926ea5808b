"""The statistics chain against R's published outputs for two of R's own example data sets.

InsectSprays (unequal variances): oneway.test -> F = 36.065, num df = 5, denom df = 30.043,
p = 7.999e-12; bartlett.test -> K^2 = 25.96, p = 9.085e-05; car::leveneTest -> F = 3.8214,
p = 0.004223.  PlantGrowth (equal variances): aov -> F = 4.846, p = 0.01591; bartlett.test ->
K^2 = 2.8786, p = 0.2371; car::leveneTest -> F = 1.1192, p = 0.3412; TukeyHSD p adj trt2-trt1
0.0120064, trt1-ctrl 0.3908711, trt2-ctrl 0.1979960.
"""

import math

import numpy as np
import pandas as pd
import pytest

from vamer.analysis.ratings import rating_statistics

INSECT_SPRAYS = {
    "A": [10, 7, 20, 14, 14, 12, 10, 23, 17, 20, 14, 13],
    "B": [11, 17, 21, 11, 16, 14, 17, 17, 19, 21, 7, 13],
    "C": [0, 1, 7, 2, 3, 1, 2, 1, 3, 0, 1, 4],
    "D": [3, 5, 12, 6, 4, 3, 5, 5, 5, 5, 2, 4],
    "E": [3, 5, 3, 5, 3, 6, 1, 1, 3, 2, 6, 4],
    "F": [11, 9, 15, 22, 15, 16, 13, 10, 26, 26, 24, 13],
}
PLANT_GROWTH = {
    "ctrl": [4.17, 5.58, 5.18, 6.11, 4.50, 4.61, 5.17, 4.53, 5.33, 5.14],
    "trt1": [4.81, 4.17, 4.41, 3.59, 5.87, 3.83, 6.03, 4.89, 4.32, 4.69],
    "trt2": [6.31, 5.12, 5.54, 5.50, 5.37, 5.29, 4.92, 6.15, 5.80, 5.26],
}


def frame_of(groups, rating="valence"):
    return pd.DataFrame([(g, float(v)) for g, values in groups.items() for v in values], columns=["emotion", rating])


def test_unequal_variances_take_welch_and_match_r():
    stats = rating_statistics(frame_of(INSECT_SPRAYS), list(INSECT_SPRAYS), "valence", alpha=0.05)
    bartlett, levene = stats["homoscedasticity"]["bartlett"], stats["homoscedasticity"]["levene"]
    assert bartlett["statistic"] == pytest.approx(25.96, abs=0.005)
    assert bartlett["p"] == pytest.approx(9.085e-05, rel=1e-3)
    assert levene["statistic"] == pytest.approx(3.8214, abs=1e-4)
    assert levene["p"] == pytest.approx(0.004223, rel=1e-3)
    anova = stats["anova"]
    assert anova["test"] == "welch_anova"
    assert (anova["ddof1"], anova["ddof2"]) == (5, pytest.approx(30.043, abs=1e-3))
    assert anova["F"] == pytest.approx(36.065, abs=1e-3)
    assert anova["p"] == pytest.approx(7.999e-12, rel=1e-3)
    assert stats["posthoc"]["test"] == "games_howell"
    assert len(stats["posthoc"]["pairs"]) == 15


def test_equal_variances_take_classic_anova_and_tukey_and_match_r():
    stats = rating_statistics(frame_of(PLANT_GROWTH, "arousal"), list(PLANT_GROWTH), "arousal", alpha=0.05)
    assert stats["homoscedasticity"]["bartlett"]["p"] == pytest.approx(0.2371, abs=1e-4)
    assert stats["homoscedasticity"]["levene"]["statistic"] == pytest.approx(1.1192, abs=1e-4)
    anova = stats["anova"]
    assert anova["test"] == "anova" and (anova["ddof1"], anova["ddof2"]) == (2, 27)
    assert anova["F"] == pytest.approx(4.846, abs=1e-3)
    assert anova["p"] == pytest.approx(0.01591, rel=1e-3)
    tukey = {frozenset((p["A"], p["B"])): p["p"] for p in stats["posthoc"]["pairs"]}
    assert tukey[frozenset(("trt1", "trt2"))] == pytest.approx(0.0120064, rel=1e-4)
    assert tukey[frozenset(("ctrl", "trt1"))] == pytest.approx(0.3908711, rel=1e-4)
    assert tukey[frozenset(("ctrl", "trt2"))] == pytest.approx(0.1979960, rel=1e-4)
    pair = next(p for p in stats["posthoc"]["pairs"] if {p["A"], p["B"]} == {"trt1", "trt2"})
    assert pair["diff"] == pytest.approx(pair["mean_A"] - pair["mean_B"])


def test_descriptives_and_normality_rule():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"emotion": ["a"] * 40 + ["b"] * 10, "arousal": np.r_[rng.normal(3, 0.5, 40), rng.normal(4, 0.5, 10)]}
    )
    stats = rating_statistics(frame, ["a", "b"], "arousal", alpha=0.05)
    a = stats["groups"][0]
    assert a["n"] == 40 and a["mean"] == pytest.approx(frame["arousal"][:40].mean())
    assert a["median"] == pytest.approx(frame["arousal"][:40].median())
    rule = {row["class"]: row["n_over_30"] for row in stats["normality"]}
    assert rule == {"a": True, "b": False}
    assert all(row["test"] == "shapiro" and 0 <= row["p"] <= 1 for row in stats["normality"])


def test_bad_input_is_noted_not_fatal():
    frame = pd.DataFrame(
        {"emotion": ["a", "a", "a", "b", "b", "c", "d"], "valence": [1.0, 2.0, 3.0, 4.0, 5.0, 3.0, math.nan]}
    )
    stats = rating_statistics(frame, ["a", "b", "c", "d", "e"], "valence", alpha=0.05)
    notes = " ".join(stats["notes"])
    assert "1 utterances have no valence rating" in notes
    assert "fewer than 2 valence ratings are left out of the tests: c, d, e" in notes
    assert stats["tested_classes"] == ["a", "b"]
    b_normality = next(row for row in stats["normality"] if row["class"] == "b")
    assert b_normality["p"] is None and "n < 4" in b_normality["note"]

    lonely = rating_statistics(frame, ["a", "c"], "valence", alpha=0.05)
    assert "no test is possible" in lonely["skipped"]
    constant = pd.DataFrame({"emotion": ["a", "a", "b", "b"], "valence": [3.0, 3.0, 4.0, 4.0]})
    assert "constant" in rating_statistics(constant, ["a", "b"], "valence", alpha=0.05)["skipped"]
    one_flat = pd.DataFrame(
        {"emotion": ["a", "a", "a", "b", "b", "b", "c", "c"], "valence": [1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 2.0, 2.0]}
    )
    stats = rating_statistics(one_flat, ["a", "b", "c"], "valence", alpha=0.05)
    assert stats["tested_classes"] == ["a", "b"] and "all equal are left out of the tests: c" in stats["notes"][0]
    assert stats["anova"]["F"] > 0

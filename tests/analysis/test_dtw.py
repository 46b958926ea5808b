import numpy as np
import pandas as pd
import pytest

from vamer.analysis.dtw import davies_bouldin_dtw, dtw_study, segment_series

SHAPES = {
    "rise": lambda n: np.linspace(0, 1, n),
    "fall": lambda n: np.linspace(1, 0, n),
    "bump": lambda n: np.sin(np.linspace(0, np.pi, n)),
}


def study_config(k_min, k_max, max_series, seed, max_iter):
    from vamer.analysis.config import AnalysisConfig

    return AnalysisConfig(
        k_min=k_min, k_max=k_max, max_series=max_series, seed=seed, normalize_series=True, kmeans_max_iter=max_iter
    )


def shaped_series(per_shape=15, seed=0):
    rng = np.random.default_rng(seed)
    series, truth = {}, {}
    for shape, make in SHAPES.items():
        for i in range(per_shape):
            n = int(rng.integers(8, 17))  # segments differ in length
            series[f"{shape}{i}"] = make(n) * rng.uniform(0.5, 2) + rng.normal(0, 0.03, n)
            truth[f"{shape}{i}"] = shape
    return series, pd.Series(truth)


def test_known_clusters_are_found_and_tied_to_their_labels():
    series, truth = shaped_series()
    study = dtw_study(series, truth, study_config(2, 5, 1000, 0, 20))
    assert study["chosen_k"] == 3
    assert study["best_davies_bouldin_k"] == 3
    by_k = {row["k"]: row for row in study["per_k"]}
    assert by_k[3]["silhouette"] > 0.5 and by_k[3]["silhouette"] > by_k[2]["silhouette"]
    assert study["silhouette_structure"] in ("strong", "reasonable")
    crossing = study["contingency"]
    assert crossing["cramers_v"] == pytest.approx(1.0)
    assert crossing["p"] < 1e-10 and crossing["dof"] == 4
    assert study["lengths"]["min"] >= 8 and study["lengths"]["max"] <= 16
    assert len(study["_plot"]["samples"]) == 45


def test_noise_has_no_structure_and_no_link_to_labels():
    rng = np.random.default_rng(1)
    series = {f"s{i}": rng.normal(size=int(rng.integers(8, 17))) for i in range(60)}
    labels = pd.Series({key: ("x" if i % 2 else "y") for i, key in enumerate(series)})
    study = dtw_study(series, labels, study_config(2, 4, 1000, 0, 10))
    assert study["silhouette_structure"] == "no substantial"
    assert study["contingency"]["p"] > 0.01


def test_davies_bouldin_prefers_true_partition():
    series, truth = shaped_series(per_shape=8)
    from tslearn.utils import to_time_series_dataset

    data = to_time_series_dataset(list(series.values()))
    codes = pd.Categorical(truth.reindex(list(series))).codes
    centers = np.stack([data[codes == c][0] for c in range(3)])  # a member as a stand-in centre
    shuffled = np.random.default_rng(0).permutation(codes)
    assert davies_bouldin_dtw(data, codes, centers) < davies_bouldin_dtw(data, shuffled, centers)


def test_subsample_is_seeded_and_reported():
    series, truth = shaped_series(per_shape=20)
    one = dtw_study(series, truth, study_config(2, 3, 30, 5, 5))
    two = dtw_study(series, truth, study_config(2, 3, 30, 5, 5))
    assert one["clustered"] == 30 and one["series"] == 60
    assert "subsample of 30 (seed 5)" in one["notes"][0]
    assert one["per_k"] == two["per_k"]


def test_short_constant_and_too_few_series():
    bio = pd.DataFrame(
        {
            "utt_id": ["a"] * 5 + ["b"] * 2 + ["c"] * 5 + [None],
            "signal": ["TEMP"] * 13,
            "t": list(range(5)) + [0, 1] + list(range(5)) + [9],
            "value": [1, 2, 3, 2, 1, 5, 6, 7, 7, 7, 7, 7, 0.0],
        }
    )
    series, notes = segment_series(bio, "TEMP", min_length=4, normalize=True)
    assert list(series) == ["a"]
    assert any("fewer than 4" in n for n in notes) and any("constant" in n for n in notes)
    study = dtw_study(series, pd.Series({"a": "x"}), study_config(2, 4, 100, 0, 5))
    assert "too few" in study["skipped"]

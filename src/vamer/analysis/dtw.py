"""DTW time-series k-means of one bio-signal per segment (the method's TEMP study).

Segments differ in length, so each segment's series is compared with dynamic time warping.  For
each k, tslearn's ``TimeSeriesKMeans(metric="dtw")`` clusters the series; the Silhouette index
uses the DTW distance matrix (scikit-learn, ``metric="precomputed"``) and the Davies-Bouldin index
uses DTW distances to and between the DTW barycentres.  The cluster labels of the chosen k are
then crossed with the emotions (chi-square, Cramér's V), which the slides lacked.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency
from scipy.stats.contingency import association
from sklearn.metrics import silhouette_samples, silhouette_score

from vamer.analysis.config import AnalysisConfig

with warnings.catch_warnings():
    # tslearn warns at import that h5py (its optional model-saving backend) is absent; vamer never uses it.
    warnings.filterwarnings("ignore", message="h5py not installed")
    from tslearn.clustering import TimeSeriesKMeans
    from tslearn.metrics import cdist_dtw
    from tslearn.preprocessing import TimeSeriesScalerMeanVariance
    from tslearn.utils import to_time_series_dataset

# Kaufman & Rousseeuw's reading of an average silhouette width.
SILHOUETTE_STRUCTURE = ((0.70, "strong"), (0.50, "reasonable"), (0.25, "weak"), (-1.0, "no substantial"))


def segment_series(
    bio: pd.DataFrame, signal: str, min_length: int, normalize: bool
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each segment's samples of ``signal`` in time order; too short or (when normalising) constant
    series are left out with a note."""
    rows = bio[(bio["signal"] == signal) & bio["utt_id"].notna()]
    series: dict[str, np.ndarray] = {}
    short = flat = 0
    for utt_id, group in rows.groupby("utt_id", observed=True, sort=True):
        values = group.sort_values("t")["value"].to_numpy(dtype=float)
        if len(values) < min_length:
            short += 1
        elif normalize and np.ptp(values) == 0:
            flat += 1
        else:
            series[str(utt_id)] = values
    notes = []
    if short:
        notes.append(f"{short} segments have fewer than {min_length} {signal} samples and are left out")
    if flat:
        notes.append(f"{flat} segments have a constant {signal} series (no shape to cluster) and are left out")
    return series, notes


def davies_bouldin_dtw(data: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> float:
    """Davies-Bouldin index with DTW in place of the Euclidean distance."""
    clusters = np.unique(labels)
    scatter = np.array([cdist_dtw(data[labels == c], centers[c : c + 1]).mean() for c in clusters])
    separation = cdist_dtw(centers[clusters])
    ratios = []
    for i in range(len(clusters)):
        others = [
            (scatter[i] + scatter[j]) / separation[i, j]
            for j in range(len(clusters))
            if j != i and separation[i, j] > 0
        ]
        ratios.append(max(others) if others else np.inf)
    return float(np.mean(ratios))


def structure_of(silhouette: float) -> str:
    return next(name for bound, name in SILHOUETTE_STRUCTURE if silhouette > bound)


def dtw_study(
    series: dict[str, np.ndarray],
    emotions: pd.Series,
    config: AnalysisConfig,
    progress: Callable[[Any], Any] = lambda items: items,
) -> dict[str, Any]:
    """Cluster the series for every k and pick k by the Silhouette index.

    ``emotions`` maps utt_id to class label.  Returns every number plus, under ``_plot``, what the
    silhouette plot needs (left out of the JSON).
    """
    k_values, max_series, seed = range(config.k_min, config.k_max + 1), config.max_series, config.seed
    normalize = config.normalize_series
    notes: list[str] = []
    ids = sorted(series)
    if len(ids) > max_series:
        rng = np.random.default_rng(seed)
        ids = sorted(rng.choice(ids, size=max_series, replace=False).tolist())
        notes.append(
            f"{len(series)} series; a seeded random subsample of {max_series} (seed {seed}) is clustered, "
            "because the silhouette needs all pairwise DTW distances"
        )
    usable_k = [k for k in k_values if k < len(ids)]
    if len(usable_k) == 0:
        return {
            "skipped": f"{len(ids)} series are too few for k in {k_values.start}..{k_values.stop - 1}",
            "notes": notes,
        }
    data = to_time_series_dataset([series[i] for i in ids])
    if normalize:
        data = TimeSeriesScalerMeanVariance().fit_transform(data)
    # n_jobs=1: with series this short, joblib workers cost more than they save (measured 3x slower).
    distances = cdist_dtw(data, n_jobs=1)
    per_k = []
    fits = {}
    for k in progress(usable_k):
        model = TimeSeriesKMeans(
            n_clusters=k,
            metric="dtw",
            max_iter=config.kmeans_max_iter,
            max_iter_barycenter=config.barycenter_max_iter,
            random_state=seed,
            n_jobs=1,
        )
        labels = model.fit_predict(data)
        found = len(np.unique(labels))
        if found < 2:
            per_k.append({"k": k, "clusters_found": found, "silhouette": None, "davies_bouldin": None})
            continue
        fits[k] = (labels, model.cluster_centers_)
        per_k.append(
            {
                "k": k,
                "clusters_found": found,
                "silhouette": float(silhouette_score(distances, labels, metric="precomputed")),
                "davies_bouldin": davies_bouldin_dtw(data, labels, model.cluster_centers_),
            }
        )
    scored = [row for row in per_k if row["silhouette"] is not None]
    if not scored:
        return {"skipped": "k-means found a single cluster for every k", "per_k": per_k, "notes": notes}
    best_sil = max(scored, key=lambda row: row["silhouette"])
    best_db = min(scored, key=lambda row: row["davies_bouldin"])
    chosen = best_sil["k"]
    agreement = (
        "Davies-Bouldin agrees (lowest at the same k)"
        if best_db["k"] == chosen
        else f"Davies-Bouldin would pick k = {best_db['k']} ({best_db['davies_bouldin']:.3f})"
    )
    structure = structure_of(best_sil["silhouette"])
    why = (
        f"k = {chosen} has the highest Silhouette ({best_sil['silhouette']:.3f}, {structure} structure by "
        f"Kaufman & Rousseeuw's reading); {agreement}"
    )
    labels, _ = fits[chosen]
    samples = silhouette_samples(distances, labels, metric="precomputed")
    contingency = pd.crosstab(
        pd.Series(labels, name="cluster"), pd.Series(emotions.reindex(ids).to_numpy(), name="emotion")
    )
    crossing: dict[str, Any] = {
        "table": {str(c): {str(e): int(n) for e, n in row.items()} for c, row in contingency.iterrows()}
    }
    if contingency.shape[0] > 1 and contingency.shape[1] > 1:
        chi2, p, dof, expected = chi2_contingency(contingency.to_numpy())
        sparse = float((expected < 5).mean())
        crossing.update(
            chi2=float(chi2),
            p=float(p),
            dof=int(dof),
            cramers_v=float(association(contingency.to_numpy(), method="cramer")),
            share_expected_below_5=sparse,
        )
        if sparse > 0.2:
            notes.append(
                f"{sparse:.0%} of the cluster x emotion cells expect fewer than 5 segments; "
                "the chi-square p-value is approximate"
            )
    else:
        crossing["skipped"] = "one cluster or one emotion only: no contingency test"
    return {
        "series": len(series),
        "clustered": len(ids),
        "normalized": normalize,
        "lengths": {
            "min": int(min(len(series[i]) for i in ids)),
            "max": int(max(len(series[i]) for i in ids)),
            "mean": float(np.mean([len(series[i]) for i in ids])),
        },
        "per_k": per_k,
        "chosen_k": chosen,
        "why": why,
        "silhouette_structure": structure,
        "best_davies_bouldin_k": best_db["k"],
        "contingency": crossing,
        "notes": notes,
        "_plot": {"labels": labels, "samples": samples},
    }

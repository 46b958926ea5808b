"""Classification and rating metrics, always pooled over a whole split (never averaged per batch),
and their mean ± std over folds and seeds.  Every number is scikit-learn's.  Shared by training's
validation (stage 5) and the reports (stage 6), so it sits beside the package's other foundations.

>>> m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
>>> round(m["macro_f1"], 3), round(m["ua"], 3), m["accuracy"]
(0.733, 0.75, 0.75)

A class absent from a split's truth is left out of its macro F1 and UA alike (and named), rather
than scoring a silent zero:

>>> m = classification_metrics(["a", "a", "b"], ["a", "a", "b"], ["a", "b", "c"])
>>> m["macro_f1"], m["ua"], m["absent_classes"]
(1.0, 1.0, ['c'])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

HEADLINE = ("macro_f1", "weighted_f1", "ua", "accuracy")


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], classes: list[str]) -> dict[str, Any]:
    """Weighted F1 (the method's metric), macro F1, UA (balanced accuracy), accuracy, per-class
    precision/recall/F1/support and the confusion matrix (rows = true, columns = predicted)."""
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    present = [c for c in classes if c in set(y_true)]
    # UA = balanced accuracy: mean recall over the classes the split holds (a class the model
    # predicts but the split lacks does not count).  Taken from the recalls above, which are
    # computed with every label, so a one-class split needs no special case.
    recall_of = dict(zip(classes, recall))
    ua = float(np.mean([recall_of[c] for c in present])) if present else 0.0
    return {
        "n": len(y_true),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
        if present
        else 0.0,
        "absent_classes": [c for c in classes if c not in present],
        "weighted_f1": float(f1_score(y_true, y_pred, labels=classes, average="weighted", zero_division=0)),
        "ua": ua,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {
            c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(classes, precision, recall, f1, support)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def concordance(pred: np.ndarray, true: np.ndarray) -> float:
    """Lin's concordance correlation coefficient of rating predictions, pooled over a whole split:
    agreement in correlation, mean and scale alike (a constant prediction scores 0).

    >>> round(concordance(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])), 6)
    1.0
    """
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if len(pred) < 2:
        return float("nan")
    covariance = np.mean((pred - pred.mean()) * (true - true.mean()))
    return float(2 * covariance / (pred.var() + true.var() + (pred.mean() - true.mean()) ** 2 + 1e-12))


def aggregate(runs: list[dict[str, Any]], classes: list[str]) -> dict[str, Any]:
    """Mean and std (ddof 0) of the headline metrics and per-class F1/recall over runs (folds x seeds);
    a class's numbers average only the runs whose test split held it."""
    out: dict[str, Any] = {}
    for key in HEADLINE:
        values = np.array([run[key] for run in runs], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    out["per_class"] = {}
    for c in classes:
        out["per_class"][c] = {}
        for key in ("precision", "recall", "f1"):
            values = np.array(
                [run["per_class"][c][key] for run in runs if c not in run.get("absent_classes", ())], dtype=float
            )
            out["per_class"][c][key] = (
                {"mean": float(values.mean()), "std": float(values.std())}
                if len(values)
                else {"mean": float("nan"), "std": float("nan")}
            )
    out["runs"] = len(runs)
    out["absent_classes"] = [sorted(run.get("absent_classes", [])) for run in runs]
    return out


def mean_std(summary: dict[str, float]) -> str:
    """``{"mean": m, "std": s}`` as the reports print it: ``m ± s`` to three decimals."""
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"

"""Confusion-matrix figures (counts and row-normalised), with matplotlib/seaborn."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402


def confusion_figure(matrix: list[list[int]], classes: list[str], title: str, path: Path) -> None:
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    sns.heatmap(
        counts, annot=True, fmt=".0f", cmap="Blues", xticklabels=classes, yticklabels=classes, ax=axes[0], cbar=False
    )
    sns.heatmap(
        normalised,
        annot=True,
        fmt=".2f",
        cmap="Blues",
        vmin=0,
        vmax=1,
        xticklabels=classes,
        yticklabels=classes,
        ax=axes[1],
        cbar=False,
    )
    for axis, name in zip(axes, ("counts", "row-normalised (recall on the diagonal)")):
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(name)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

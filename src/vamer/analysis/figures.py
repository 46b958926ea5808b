"""Figures of ``vamer analyze`` (matplotlib with the Agg backend, seaborn for the statistics plots).

Each function writes one PNG and returns nothing; the report links them by file name.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

DPI = 110
CLASS_COLORS = {
    "neutral": "#9e9e9e",
    "happy": "#f2b701",
    "surprise": "#3fa7d6",
    "angry": "#e4572e",
    "sad": "#2a4d9b",
    "disgust": "#6a994e",
    "fear": "#8e44ad",
}


@contextmanager
def _seaborn_calls():
    """seaborn 0.13 still passes boxplot's ``vert``, which matplotlib 3.11 deprecates; not ours to fix."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="vert: bool was deprecated")
        yield


def _save(figure: plt.Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def ratings_by_class(utterances: pd.DataFrame, classes: list[str], kind: str, path: Path) -> None:
    """Box or violin plots of arousal and valence per class (``kind`` = 'box' or 'violin')."""
    frame = utterances[utterances["emotion"].isin(classes)]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    palette = {c: CLASS_COLORS.get(c, "#777777") for c in classes}
    for axis, rating in zip(axes, ("arousal", "valence")):
        data = frame.dropna(subset=[rating])
        draw = sns.boxplot if kind == "box" else sns.violinplot
        options = {"cut": 0, "inner": "quartile"} if kind == "violin" else {"showmeans": True}
        with _seaborn_calls():
            draw(
                data=data,
                x="emotion",
                y=rating,
                hue="emotion",
                order=classes,
                hue_order=classes,
                palette=palette,
                legend=False,
                ax=axis,
                **options,
            )
        counts = data["emotion"].value_counts()
        axis.set_xticks(range(len(classes)), [f"{c}\nn={counts.get(c, 0)}" for c in classes])
        axis.set_xlabel("")
        axis.set_ylim(0.8, 5.2)
        axis.set_title(f"{rating} by emotion")
    _save(figure, path)


def coverage_heatmap(coverage: pd.DataFrame, path: Path) -> None:
    table = coverage.pivot(index="session", columns="signal", values="share")
    figure, axis = plt.subplots(figsize=(1.4 * table.shape[1] + 2.5, 0.28 * table.shape[0] + 1.5))
    sns.heatmap(
        table,
        vmin=0,
        vmax=1,
        cmap="viridis",
        annot=table.shape[0] <= 40,
        fmt=".0%",
        ax=axis,
        cbar_kws={"label": "share of segments with samples"},
    )
    axis.set_title("bio-signal coverage per session")
    _save(figure, path)


def session_timeline(
    session: str, utterances: pd.DataFrame, bio: pd.DataFrame, spans: pd.DataFrame, path: Path
) -> None:
    """Each signal of one session over time, one line per wearer, segments shaded by emotion."""
    rows = bio[bio["session"] == session]
    signals = [s for s in ("EDA", "TEMP", "IBI", "ECG") if (rows["signal"] == s).any()]
    emotion_of = utterances.set_index("utt_id")["emotion"]
    shaded = spans[spans["utt_id"].isin(rows["utt_id"].dropna().unique())].copy()
    shaded["emotion"] = shaded["utt_id"].map(emotion_of)
    shaded = shaded.dropna(subset=["emotion"])
    figure, axes = plt.subplots(len(signals), 1, figsize=(12, 2.4 * len(signals)), sharex=True, squeeze=False)
    speakers = sorted(str(s) for s in rows["speaker"].dropna().unique())
    speaker_color = dict(zip(speakers, sns.color_palette("dark", n_colors=max(len(speakers), 1))))
    for axis, signal in zip(axes[:, 0], signals):
        for speaker, group in rows[rows["signal"] == signal].groupby("speaker", observed=True):
            # One line per recording, so that the pause between two scripts is not drawn as data.
            for _, recording in group.groupby("recording", observed=True):
                recording = recording.sort_values("timestamp")
                style = "o" if signal == "IBI" else "-"
                axis.plot(
                    recording["timestamp"],
                    recording["value"],
                    style,
                    markersize=2,
                    linewidth=0.9,
                    color=speaker_color[str(speaker)],
                    label=str(speaker),
                )
        for _, span in shaded.iterrows():
            axis.axvspan(
                span["start"],
                span["end"],
                color=CLASS_COLORS.get(span["emotion"], "#777777"),
                alpha=0.25 if span["emotion"] != "neutral" else 0.08,
                linewidth=0,
            )
        axis.set_ylabel(signal)
        handles, labels = axis.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        axis.legend(unique.values(), unique.keys(), loc="upper right", fontsize=7)
    patches = [
        plt.Rectangle((0, 0), 1, 1, color=CLASS_COLORS.get(c, "#777777"), alpha=0.5)
        for c in sorted(shaded["emotion"].unique())
    ]
    figure.legend(patches, sorted(shaded["emotion"].unique()), loc="lower center", ncol=len(patches), fontsize=8)
    axes[0, 0].set_title(f"{session}: bio-signals over time, segments shaded by emotion")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def responses_by_class(responses: pd.DataFrame, utterances: pd.DataFrame, classes: list[str], path: Path) -> None:
    joined = responses.merge(utterances[["utt_id", "emotion", "arousal"]], on="utt_id")
    joined = joined[joined["emotion"].isin(classes)]
    signals = sorted(joined["signal"].unique())
    figure, axes = plt.subplots(2, len(signals), figsize=(4.2 * len(signals), 7), squeeze=False)
    for column, signal in enumerate(signals):
        data = joined[joined["signal"] == signal]
        with _seaborn_calls():
            sns.boxplot(
                data=data,
                x="emotion",
                y="response_z",
                order=classes,
                hue="emotion",
                hue_order=classes,
                palette={c: CLASS_COLORS.get(c, "#777777") for c in classes},
                legend=False,
                ax=axes[0, column],
                showfliers=False,
            )
        axes[0, column].set_title(f"{signal}: segment response by emotion")
        axes[0, column].set_xlabel("")
        sns.regplot(
            data=data,
            x="arousal",
            y="response_z",
            ax=axes[1, column],
            scatter_kws={"s": 6, "alpha": 0.4},
            line_kws={"color": "black"},
            x_jitter=0.03,
        )
        axes[1, column].set_title(f"{signal}: response vs rated arousal")
    _save(figure, path)


def dtw_indices(per_k: list[dict], chosen: int, signal: str, path: Path) -> None:
    frame = pd.DataFrame([row for row in per_k if row["silhouette"] is not None])
    figure, left = plt.subplots(figsize=(7, 3.8))
    left.plot(frame["k"], frame["silhouette"], "o-", color="#1f77b4", label="Silhouette (higher is better)")
    left.set_xlabel("k")
    left.set_ylabel("Silhouette (DTW)", color="#1f77b4")
    right = left.twinx()
    right.plot(frame["k"], frame["davies_bouldin"], "s--", color="#d62728", label="Davies-Bouldin (lower is better)")
    right.set_ylabel("Davies-Bouldin (DTW)", color="#d62728")
    left.axvline(chosen, color="black", linewidth=0.8, linestyle=":")
    left.set_title(f"{signal}: DTW k-means cluster indices (chosen k = {chosen})")
    _save(figure, path)


def silhouette_plot(samples: np.ndarray, labels: np.ndarray, signal: str, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(7, 4.5))
    floor = 0
    palette = sns.color_palette("tab10", n_colors=int(labels.max()) + 1)
    for cluster in np.unique(labels):
        values = np.sort(samples[labels == cluster])
        axis.fill_betweenx(np.arange(floor, floor + len(values)), 0, values, color=palette[cluster], alpha=0.8)
        axis.text(-0.05, floor + len(values) / 2, str(cluster), va="center", ha="right", fontsize=8)
        floor += len(values) + 5
    axis.axvline(float(samples.mean()), color="red", linestyle="--", label=f"mean {samples.mean():.3f}")
    axis.set_xlabel("silhouette coefficient (DTW)")
    axis.set_ylabel("segments by cluster")
    axis.set_yticks([])
    axis.legend(loc="lower right")
    axis.set_title(f"{signal}: silhouette of each segment, k = {int(labels.max()) + 1}")
    _save(figure, path)

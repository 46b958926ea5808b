"""``vamer baseline``: the classic and majority baselines on the same folds the models use.

``metrics.json`` keys (the same as ``vamer run`` writes for a model): ``protocol``, ``seeds``,
``classes``, ``folds``, ``skipped``, and per model (``audio``, ``egemaps``, ``text``, ``both``, ``all``,
``best`` = the classic feature set chosen on validation per fold, with ``chosen``, ``probe`` = a linear
probe of the preset's frozen audio encoder when it has one, and ``majority``):
``macro_f1``, ``weighted_f1``, ``ua``, ``accuracy`` as ``{mean, std}`` over folds, ``per_class``,
``folds`` (every fold's pooled metrics) and ``pooled_over_folds``; ``ratings``: per rating and
feature set, the ridge regression's test ``ccc`` and ``rmse`` as ``{mean, std}`` and the chosen ``alpha``
per fold (absent when the data has no ratings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

import vamer
from vamer.data.table import LoadResult
from vamer.evaluation.baseline import baseline_features, run_baselines, run_rating_baselines
from vamer.evaluation.run_metrics import BaselineMetrics, checked
from vamer.features.config import TextFeatureConfig
from vamer.features.splits import make_folds
from vamer.features.store import FeatureStore
from vamer.fileio import atomic_directory, check_replaceable
from vamer.metrics import mean_std
from vamer.presets import DEFAULT_PRESET, Preset, load_preset


def rating_rows(ridge: dict[str, Any], regression: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Table rows of rating CCC and RMSE: per rating, the network regressor (when ``regression``, as
    ``vamer run`` stores it, has it) and then the ridge regression on each feature set."""
    rows = []
    regression = regression or {}
    for stage, modality in (("arousal", "audio"), ("valence", "text")):
        if f"{stage}_ccc" in regression:
            rows.append(
                {
                    "rating": stage,
                    "model": f"{stage} regressor ({modality} encoder)",
                    "CCC": mean_std(regression[f"{stage}_ccc"]),
                    "RMSE": mean_std(regression[f"{stage}_rmse"]),
                }
            )
        rows += [
            {
                "rating": stage,
                "model": f"ridge on {features}",
                "CCC": mean_std(numbers["ccc"]),
                "RMSE": mean_std(numbers["rmse"]),
            }
            for features, numbers in ridge.get(stage, {}).items()
        ]
    return rows


def run_baseline_report(
    result: LoadResult,
    cv: str,
    seed: int,
    cache: Path | None,
    out: Path | None,
    force: bool = False,
    preset: Preset | None = None,
    config=None,
) -> str:
    """Build the ``preset``'s features (the default preset's when None: the same features, cache
    entries and linear probe as ``vamer run`` with that preset), run the baselines on the ``cv`` folds,
    write ``out`` (with ``config``, what produced it: :class:`vamer.replay.ResolvedConfig`) and return a
    table."""
    if out is not None:
        check_replaceable(out, force, "baseline")  # before the work, as the CLI does
    preset = preset or load_preset(DEFAULT_PRESET)
    # The classic text features are the offline encoder's sentence vectors whatever the model reads.
    text = preset.text if preset.text.encoder == "use" else TextFeatureConfig()
    store = FeatureStore.build(result.utterances, result.classes, preset.audio_features, text, cache_dir=cache)
    folds = make_folds(store.table, cv)  # every command's folds; ``seed`` seeds the classifier
    functionals, failed = store.functionals_matrix()
    audio = preset.audio_features
    features = baseline_features(
        store.table,
        store.mels,
        store.encoder,
        functionals,
        store.upstream,
        audio.speaker_norm,
        audio.speaker_min_clips,
        audio.speaker_prior_clips,
    )
    numbers = run_baselines(store.table, folds, features, result.classes, seed)
    ratings = run_rating_baselines(store.table, folds, features)
    skipped = store.skipped.to_dict("records")
    metrics: dict[str, Any] = {
        "generator": "vamer baseline",
        "vamer_version": vamer.__version__,
        "protocol": {
            "cv": cv,
            "description": folds[0].protocol,
            "dataset": result.dataset,
            "preset": preset.name,
            "audio_encoder": preset.audio_features.upstream,
            "utterances": len(store.table),
            "synthetic": result.synthetic,
            "classifier": "StandardScaler -> LogisticRegression(class_weight='balanced'), C chosen on "
            "val, refitted on train+val; best = classic feature set with the best val macro "
            "F1; probe = the same on the frozen audio encoder's pooled states"
            + (
                f"; eGeMAPS and the probe's states normalised per speaker ({audio.speaker_norm}, transductive)"
                if audio.speaker_norm != "none"
                else ""
            ),
            "egemaps_unreadable": failed,
            "metrics": "pooled over each fold's whole test split; mean and std over folds",
        },
        "seeds": [seed],
        "classes": result.classes,
        "folds": len(folds),
        "skipped": skipped,
        "models": numbers,
        "ratings": ratings,
    }
    rows = [
        {"model": name, **{k: mean_std(numbers[name][k]) for k in ("macro_f1", "ua", "weighted_f1", "accuracy")}}
        for name in ("majority", *(n for n in numbers if n not in ("majority", "best")), "best")
    ]
    table = pd.DataFrame(rows).to_markdown(index=False)
    summary = (
        f"{metrics['protocol']['description']}, {len(folds)} folds, seed {seed}, "
        f"{len(store.table)} utterances ({len(skipped)} skipped)\n{table}"
    )
    if ratings:
        summary += (
            "\n\nRidge regression of the ratings on the same features and folds (alpha chosen on val):\n"
            + pd.DataFrame(rating_rows(ratings)).to_markdown(index=False)
        )
    if out is not None:
        with atomic_directory(out, "baseline", force) as scratch:
            (scratch / "metrics.json").write_text(
                json.dumps(checked(metrics, BaselineMetrics), indent=2, default=str) + "\n", encoding="utf-8"
            )
            (scratch / "summary.md").write_text(summary + "\n", encoding="utf-8")
            if config is not None:
                config.write(scratch)
        summary += f"\nwrote {out / 'metrics.json'}"
    return summary

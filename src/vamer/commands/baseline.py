"""``vamer baseline``: the classic and majority baselines, and a linear probe of the preset's frozen
audio encoder, on the folds and features ``vamer run`` uses.

``metrics.json`` (:class:`~vamer.evaluation.run_metrics.BaselineMetrics`): ``protocol``, ``seeds``,
``classes``, ``folds``, ``skipped``, and per model (``audio``, ``egemaps``, ``text``, ``both``,
``all``, ``best`` = the classic feature set chosen on validation per fold, with ``chosen``,
``probe`` = a linear probe of the preset's frozen audio encoder when it has one, and
``majority``): ``macro_f1``, ``weighted_f1``, ``ua``, ``accuracy`` as ``{mean, std}`` over folds,
``per_class``, ``folds`` (every fold's pooled metrics) and ``pooled_over_folds``; ``ratings``: per
rating and feature set, the ridge regression's test ``ccc`` and ``rmse`` as ``{mean, std}`` and the
chosen ``alpha`` per fold (absent when the data has no ratings).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import vamer
from vamer.commands.config import RunConfig
from vamer.data.table import LoadResult
from vamer.evaluation.baseline import baseline_features, run_baselines, run_rating_baselines
from vamer.evaluation.run_metrics import SCHEMA_VERSION, BaselineMetrics
from vamer.evaluation.run_report import rating_rows
from vamer.features.config import TextFeatureConfig
from vamer.features.splits import make_folds
from vamer.features.store import FeatureStore
from vamer.fileio import atomic_directory, check_replaceable
from vamer.metrics import mean_std

CLASSIFIER = (
    "StandardScaler -> LogisticRegression(class_weight='balanced'), C chosen on val, refitted on train+val; "
    "best = classic feature set with the best val macro F1; probe = the same on the frozen audio encoder's "
    "pooled states"
)


def baseline(config: RunConfig, out: Path | None = None, force: bool = False, result: LoadResult | None = None) -> str:
    """Build the preset's features (the same features, cache entries and linear probe as ``vamer
    run`` with that preset), run the baselines on the ``config.cv`` folds (``config.seed`` seeds the
    classifiers), write ``out`` with its ``config.yaml``, and return a table."""
    if out is not None:
        check_replaceable(out, force, "baseline")  # before the work
    result = result or config.dataset.load(read_bio=False)
    preset, seed = config.preset, config.seed
    # The classic text features are the offline encoder's sentence vectors whatever the model reads.
    text = preset.text if preset.text.encoder == "use" else TextFeatureConfig()
    store = FeatureStore.build(result.utterances, result.classes, preset.audio_features, text, config.cache)
    folds = make_folds(store.table, config.cv)  # every command's folds
    functionals, failed = store.functionals_matrix()
    audio = preset.audio_features
    features = baseline_features(store, store.encoder, functionals, audio)
    numbers = run_baselines(store.table, folds, features, result.classes, seed)
    ratings = run_rating_baselines(store.table, folds, features)
    normalised = (
        f"; eGeMAPS and the probe's states normalised per speaker ({audio.speaker_norm}, transductive)"
        if audio.speaker_norm != "none"
        else ""
    )
    metrics = BaselineMetrics(
        schema_version=SCHEMA_VERSION,
        generator="vamer baseline",
        vamer_version=vamer.__version__,
        protocol={
            "cv": config.cv,
            "description": folds[0].protocol,
            "dataset": result.dataset,
            "preset": preset.name,
            "audio_encoder": audio.upstream,
            "utterances": len(store.table),
            "synthetic": result.synthetic,
            "classifier": CLASSIFIER + normalised,
            "egemaps_unreadable": failed,
            "metrics": "pooled over each fold's whole test split; mean and std over folds",
        },
        seeds=[seed],
        classes=result.classes,
        folds=len(folds),
        skipped=store.skipped.to_dict("records"),
        models=numbers,
        ratings=ratings,
    )
    rows = [
        {"model": name, **{k: mean_std(numbers[name][k]) for k in ("macro_f1", "ua", "weighted_f1", "accuracy")}}
        for name in ("majority", *(n for n in numbers if n not in ("majority", "best")), "best")
    ]
    summary = (
        f"{folds[0].protocol}, {len(folds)} folds, seed {seed}, {len(store.table)} utterances "
        f"({len(store.skipped)} skipped)\n{pd.DataFrame(rows).to_markdown(index=False)}"
    )
    if ratings:
        summary += (
            "\n\nRidge regression of the ratings on the same features and folds (alpha chosen on val):\n"
            + pd.DataFrame(rating_rows(ratings)).to_markdown(index=False)
        )
    if out is not None:
        with atomic_directory(out, "baseline", force) as scratch:
            written = json.dumps(metrics.as_written(), indent=2, default=str)
            (scratch / "metrics.json").write_text(written + "\n", encoding="utf-8")
            (scratch / "summary.md").write_text(summary + "\n", encoding="utf-8")
            config.record().write(scratch)
        summary += f"\nwrote {out / 'metrics.json'}"
    return summary

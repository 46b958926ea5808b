"""A run's outcomes gathered fold by fold (:class:`FoldResults`) and made into the figures of its
``metrics.json`` (:func:`model_figures`): every figure pooled over a fold's whole test split, then
mean ± std over folds x seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vamer.evaluation.run_report import variant_name
from vamer.features.speakers import SpeakerContext
from vamer.features.store import FoldData
from vamer.metrics import HEADLINE, aggregate, classification_metrics
from vamer.models.probe import LinearProbe
from vamer.recipe import FoldOutcome, Variant


@dataclass
class Baselines:
    """The classic, probe, majority and rating baselines of a run, on its folds (rank 0 only)."""

    classes: dict[str, Any]
    ratings: dict[str, Any]
    notes: list[str]


@dataclass
class FoldResults:
    """Every fold x seed's outcome, gathered for the metrics, the predictions and the bundle."""

    runs: dict[str, list] = field(default_factory=dict)  # variant -> per-run metrics
    regression: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bundle_models: dict[str, Any] | None = None  # fold 0, seed 0's models
    vocabulary: dict | None = None
    class_counts: pd.DataFrame | None = None
    pretrained: dict[str, bool] | None = None
    without_context: dict[str, list] = field(default_factory=dict)  # variant -> per-run metrics, no speaker context
    members: dict[str, list] = field(default_factory=dict)  # ensemble member -> per-run metrics
    probe: LinearProbe | None = None  # fold 0, seed 0's ensemble probe
    context: SpeakerContext | None = None  # fold 0's speaker context (its population)
    speaker_fallbacks: dict[str, Any] | None = None

    def add(self, fold: int, seed: int, outcome: FoldOutcome, data: FoldData, classes: list[str]) -> None:
        self.notes.extend(f"fold {fold}, seed {seed}: {note}" for note in outcome.notes)
        self.regression.append(
            {"fold": fold, "seed": seed, **{f"{k}_{m}": v for k, r in outcome.regression.items() for m, v in r.items()}}
        )
        for variant, rows in outcome.predictions.items():
            scored = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], classes)
            self.runs.setdefault(variant, []).append(scored)
            if variant == Variant.fusion and scored["absent_classes"]:
                self.notes.append(
                    f"fold {fold}, seed {seed}: no test utterance of "
                    f"{', '.join(scored['absent_classes'])}; left out of that fold's macro F1 and UA "
                    "(every model's alike)"
                )
            self.predictions.extend({"variant": variant, "fold": fold, "seed": seed, **r} for r in rows)
        for variant, rows in outcome.without_context.items():
            scored = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], classes)
            self.without_context.setdefault(variant, []).append(scored)
            self.predictions.extend(
                {"variant": f"{variant} (no speaker context)", "fold": fold, "seed": seed, **r} for r in rows
            )
        for member, rows in outcome.members.items():
            scored = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], classes)
            self.members.setdefault(member, []).append(scored)
            self.predictions.extend(
                {"variant": f"ensemble member: {member}", "fold": fold, "seed": seed, **r} for r in rows
            )
        if self.bundle_models is None:
            self.probe, self.context = outcome.probe, data.context
            self.speaker_fallbacks = data.context.fallbacks() if data.context is not None else None
            self.bundle_models = {name: outcome.models[name] for name in ("arousal", "valence", "fusion")}
            self.vocabulary = getattr(data.train.tokens, "vocabulary", None)
            self.pretrained = outcome.pretrained
            self.class_counts = data.class_counts


def model_figures(
    results: FoldResults, baselines: Baselines, classes: list[str], variants: tuple[str, ...]
) -> dict[str, Any]:
    """The models' part of :class:`~vamer.evaluation.run_metrics.RunMetrics`: the method's headline
    figures and per class, its predictions pooled over folds, each variant, the model without
    speaker context and each ensemble member, the baselines and the regressors."""
    pretrained = results.pretrained
    frame = pd.DataFrame(results.predictions)
    main = aggregate(results.runs["fusion"], classes)
    fusion_rows = frame[frame["variant"] == "fusion"]
    ablations = {variant: aggregate(results.runs[variant], classes) for variant in variants if results.runs[variant]}
    found = baselines.classes
    baseline = {
        name: {key: found[name][key] for key in (*HEADLINE, "per_class")} for name in found if name != "majority"
    }
    baseline["best"]["chosen"] = found["best"]["chosen"]
    regression = pd.DataFrame(results.regression)
    return {
        **{key: main[key] for key in HEADLINE},
        "per_class": main["per_class"],
        "pooled_over_folds": classification_metrics(list(fusion_rows["true"]), list(fusion_rows["pred"]), classes),
        "ablations": ablations,
        "without_speaker_context": {
            variant: aggregate(runs, classes) for variant, runs in results.without_context.items()
        }
        or None,
        "ensemble_members": {member: aggregate(runs, classes) for member, runs in results.members.items()} or None,
        "pretrained": pretrained,
        "variant_names": {variant: variant_name(variant, pretrained) for variant in ablations},
        "baseline": baseline,
        "majority": {key: found["majority"][key] for key in HEADLINE},
        "rating_baseline": baselines.ratings,
        "regression": {
            column: {"mean": float(regression[column].mean()), "std": float(regression[column].std(ddof=0))}
            for column in regression.columns
            if column not in ("fold", "seed")
        },
    }

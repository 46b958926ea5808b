"""One fold of the method, as ``vamer run`` repeats it over folds and seeds (:func:`train_fold`), and
one stage of it alone, as ``vamer train`` runs it (:func:`train_single_stage`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from vamer.errors import VamerError
from vamer.metrics import classification_metrics
from vamer.presets import functionals_dim
from vamer.recipe.fusion import train_fusion
from vamer.recipe.pretraining import pretrain, pretrain_both
from vamer.recipe.probe import fit_probe
from vamer.recipe.task import (
    FoldOutcome,
    FoldTask,
    clear_steps,
    encoder_weights,
    fresh_fusion,
    scale_inputs,
    split_truth,
)
from vamer.recipe.variants import VARIANTS, Variant
from vamer.training.journal import FoldJournal
from vamer.training.stages import is_global_zero


def train_fold(task: FoldTask, variants=VARIANTS, journal: FoldJournal | None = None) -> FoldOutcome:
    """Pretrain both encoders, train each fusion variant, and predict the test split.

    Encoders are trained during pretraining and frozen (per the preset) only for fusion; an encoder
    whose stage had no ratings was not pretrained and trains inside fusion instead.  With a
    ``journal``, each finished step (pretraining, each variant) is recorded, and a step the journal
    holds is restored from its checkpoint instead of trained again (a resumed run).
    """
    preset, data = task.preset, task.data
    outcome = FoldOutcome()
    models = task.models()
    scale_inputs(models, data.train, preset)
    untrained = copy.deepcopy(models)
    if preset.fusion.probe_ensemble:
        outcome.probe, outcome.probe_on_train, c = fit_probe(
            data,
            len(task.classes),
            models["arousal"].encoder.upstream_shape,
            functionals_dim(preset),
            task.seed,
            refit=preset.training.refit,
        )
        outcome.notes.append(
            f"linear probe of the frozen audio inputs: C {c:g} (chosen on validation)"
            + (", refitted on train + val" if preset.training.refit else "")
        )
    test_truth = split_truth(data.test, task.classes)
    pretrained = pretrain_both(models, task, outcome, journal, test_truth)
    outcome.models.update({"arousal": models["arousal"], "valence": models["valence"]})
    outcome.pretrained.update(pretrained)
    for variant in variants:
        if variant == Variant.fusion_no_pretraining:
            if not any(pretrained.values()):
                outcome.notes.append(
                    "fusion without pretraining not trained separately: nothing was pretrained, "
                    "so it is the same run as fusion"
                )
                continue
            model = fresh_fusion(task, untrained, {"arousal": False, "valence": False})
        else:
            model = fresh_fusion(task, models, pretrained)
        if not _restored(variant, model, outcome, journal, test_truth, task.classes):
            _trained(variant, model, task, outcome, journal)
    return outcome


def _restored(variant: str, model, outcome: FoldOutcome, journal, test_truth, classes) -> bool:
    """Whether ``journal`` holds ``variant`` finished: then its model, predictions and notes are
    restored into ``outcome`` from it."""
    done = journal.load(variant, test_truth, classes) if journal else None
    weights = journal.weights(model, done["checkpoint"]) if done else None
    if not done or weights is None:
        return False
    model.load_state_dict(weights)
    outcome.predictions[variant], outcome.models[variant] = done["predictions"], model
    outcome.notes.extend(done["notes"])
    if done.get("without_context") is not None:
        outcome.without_context[variant] = done["without_context"]
    if done.get("probe_weight") is not None and outcome.probe is not None:
        outcome.probe.ensemble_weight.fill_(float(done["probe_weight"]))
    outcome.members.update(done.get("members") or {})
    return True


def _trained(variant: str, model, task: FoldTask, outcome: FoldOutcome, journal: FoldJournal | None) -> None:
    """Train ``variant`` afresh (what an interrupted attempt left of it is cleared first), and record
    it in ``journal``."""
    before = len(outcome.notes)
    clear_steps(task.out, (variant, f"{variant}-refit"))
    chosen = train_fusion(variant, model, task, outcome)
    if journal and is_global_zero():
        ensembled = variant == Variant.fusion and outcome.probe is not None
        journal.save(
            variant,
            {
                "predictions": outcome.predictions[variant],
                "notes": outcome.notes[before:],
                "checkpoint": journal.relative(chosen),
                "without_context": outcome.without_context.get(variant),
                "members": outcome.members if variant == Variant.fusion else {},
                "probe_weight": float(outcome.probe.ensemble_weight) if ensembled else None,
            },
        )


def train_single_stage(
    task: FoldTask,
    stage: str,
    arousal_checkpoint: Path | None = None,
    valence_checkpoint: Path | None = None,
) -> dict[str, Any]:
    """``vamer train STAGE``: one stage alone on one fold; fusion loads the pretrained encoders from
    the two regression checkpoints (or starts them from random weights, with a note)."""
    models = task.models()
    scale_inputs(models, task.data.train, task.preset)
    outcome = FoldOutcome()
    if stage in ("arousal", "valence"):
        result = pretrain(stage, models[stage], task, outcome)
        if result is None:
            raise VamerError(f"no {stage} ratings in the training or the validation split: nothing to pretrain")
        return {
            "stage": stage,
            "best_checkpoint": result.best_checkpoint,
            "best_val_rmse": result.best_score,
            "epochs": result.epochs,
            "test": outcome.regression.get(stage),
        }
    fusion = models["fusion"]
    for name, checkpoint, encoder in (
        ("arousal", arousal_checkpoint, fusion.audio),
        ("valence", valence_checkpoint, fusion.text),
    ):
        if checkpoint:
            encoder.load_state_dict(encoder_weights(checkpoint))
        else:
            outcome.notes.append(f"no --{name} checkpoint: that encoder is not pretrained and trains in fusion")
    freeze = task.preset.fusion.freeze_encoders
    fusion.freeze(audio=freeze and bool(arousal_checkpoint), text=freeze and bool(valence_checkpoint))
    train_fusion("fusion", fusion, task, outcome)
    rows = outcome.predictions["fusion"]
    metrics = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], task.classes)
    return {"stage": "fusion", "test": metrics, "notes": outcome.notes}

"""The method's pretraining: the arousal regressor (audio encoder) and the valence regressor (text
encoder), each trained on a fold's ratings before fusion starts from their encoders."""

from __future__ import annotations

import torch

from vamer.recipe.task import FoldOutcome, FoldTask, clear_steps
from vamer.training.data import VamerDataModule, rated, rating_scale
from vamer.training.journal import FoldJournal
from vamer.training.modules import RegressionModule
from vamer.training.stages import StageResult, fit_stage, is_global_zero, tester

STAGES = ("arousal", "valence")


def pretrain(stage: str, model: torch.nn.Module, task: FoldTask, outcome: FoldOutcome) -> StageResult | None:
    """Pretrain ``stage`` (arousal or valence) and load its best weights into ``model``; its pooled
    test metrics go into ``outcome``.  Returns the stage's result (its best checkpoint is where the
    weights come from), or ``None`` when there was nothing to pretrain on.  ``vamer run`` and
    ``vamer train arousal|valence`` both pretrain through here."""
    data, trainer = task.data, task.trainer
    train, val, test = (rated(getattr(data, split), stage) for split in ("train", "val", "test"))
    if len(train) == 0 or len(val) == 0:
        outcome.notes.append(f"{stage} pretraining skipped: no {stage} ratings in train or val")
        return None
    model.head.set_scale(*rating_scale(data.train, stage))
    training = getattr(task.preset.training, stage)
    module = RegressionModule(model, training, stage)
    datamodule = VamerDataModule(
        train, val, test, batch_size=training.batch_size, seed=task.seed, **trainer.loader_args()
    )
    result = fit_stage(stage, module, datamodule, task.out / stage, training, task.fit_options())
    best = RegressionModule.load_from_checkpoint(
        result.best_checkpoint, model=model, training=training, target=stage, weights_only=True
    )
    model.load_state_dict(best.model.state_dict())
    if len(test):
        # The module's own pooled test metrics (the same code as validation).
        loader = VamerDataModule(test, test, batch_size=64, **trainer.loader_args()).test_dataloader()
        logged = tester(trainer).test(best, dataloaders=loader, verbose=False)[0]
        outcome.regression[stage] = {
            "rmse": float(logged["test_rmse"]),
            "ccc": float(logged["test_ccc"]),
            "n": len(test),
        }
    return result


def pretrain_both(
    models: dict[str, torch.nn.Module],
    task: FoldTask,
    outcome: FoldOutcome,
    journal: FoldJournal | None,
    test_truth: dict[str, str],
) -> dict[str, bool]:
    """Pretrain the arousal and valence regressors (or restore them from the journal); which were."""
    before = len(outcome.notes)  # the journal keeps pretraining's own notes (a resume adds them back)
    done = journal.load("pretraining", test_truth) if journal else None
    weights = (
        {
            stage: journal.weights(models[stage], checkpoint)
            for stage, checkpoint in done["checkpoints"].items()
            if checkpoint
        }
        if done
        else {}
    )
    if done and None not in weights.values():  # every regressor's weights read and fit, or none is loaded
        for stage, state in weights.items():
            models[stage].load_state_dict(state)
        outcome.regression.update(done["regression"])
        outcome.notes.extend(done["notes"])
        return {stage: bool(checkpoint) for stage, checkpoint in done["checkpoints"].items()}
    clear_steps(task.out, STAGES)
    results = {stage: pretrain(stage, models[stage], task, outcome) for stage in STAGES}
    checkpoints = {stage: result.best_checkpoint if result else None for stage, result in results.items()}
    if journal and is_global_zero():
        journal.save(
            "pretraining",
            {
                "checkpoints": {stage: journal.relative(c) for stage, c in checkpoints.items()},
                "regression": outcome.regression,
                "notes": outcome.notes[before:],
            },
        )
    return {stage: checkpoint is not None for stage, checkpoint in checkpoints.items()}

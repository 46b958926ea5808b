"""The fusion stage of the recipe: one variant (the method, or an ablation with a modality blanked)
trained on a fold, optionally refitted on train + val, and its test split predicted."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vamer.metrics import classification_metrics
from vamer.recipe.probe import PROBE_SHARES, ensemble_rows, probe_rows, probe_weight
from vamer.recipe.task import FoldOutcome, FoldTask
from vamer.recipe.variants import Variant
from vamer.training.config import StageTraining
from vamer.training.data import EncodedSplit, VamerDataModule, collate, item_lengths, split_labels
from vamer.training.modules import FusionModule
from vamer.training.stages import fit_stage, read_checkpoint, tester


def class_weights(labels: np.ndarray, n_classes: int) -> list[float]:
    """Inverse-frequency weights, ``n / (classes x count)`` (scikit-learn's "balanced"): 1 for every
    class of a balanced split; a class the split lacks gets 0 (it has no term to weigh).

    >>> class_weights(np.array([0, 0, 0, 1]), 3)
    [0.4444444444444444, 1.3333333333333333, 0.0]
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(float)
    return [float(len(labels) / (n_classes * count)) if count else 0.0 for count in counts]


class Blanked(torch.utils.data.Dataset):
    """A split with one modality removed (``drop``: audio or text), as the audio-only and text-only
    ablations train and test on it: the modality's input and mask are zeros (for audio, the clip
    functionals and the frozen encoder's states too)."""

    def __init__(self, data, drop: str) -> None:
        self.data, self.drop = data, drop

    def __len__(self) -> int:
        return len(self.data)

    @property
    def lengths(self):
        return item_lengths(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.data[index])
        item[self.drop] = np.zeros_like(item[self.drop])
        item[f"{self.drop}_mask"] = np.zeros_like(item[f"{self.drop}_mask"])
        if self.drop == "audio":
            for side in ("functionals", "upstream"):  # they are audio too
                if side in item:
                    item[side] = np.zeros_like(item[side])
        return item


def encode_split(
    model: torch.nn.Module, dataset, batch_size: int = 64, device: torch.device = torch.device("cpu")
) -> EncodedSplit:
    """Run a fusion classifier's (frozen) encoders once over ``dataset``: what every fusion epoch
    would otherwise recompute.  Valid positions only, which padding never changes because the
    encoders mask it; a row whose audio is blanked whole keeps its first (invalid) position, which
    the fusion head still reads, as the whole model does."""
    training = model.training
    model.eval().to(device)
    items = []
    inputs = ("audio", "audio_mask", "text", "text_mask", "functionals", "upstream")
    with torch.no_grad():
        for batch in torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
            moved = [batch[key].to(device) if isinstance(batch[key], torch.Tensor) else batch[key] for key in inputs]
            a, a_mask, t, t_mask = (value.cpu() for value in model.encode(*moved))
            for row, utt_id in enumerate(batch["utt_id"]):
                valid = int(a_mask[row].sum())
                items.append(
                    {
                        "audio_h": a[row, : max(1, valid)].numpy(),
                        "audio_h_valid": valid,
                        "text_h": t[row, : int(t_mask[row].sum())].numpy(),
                        "label": int(batch["label"][row]),
                        "utt_id": utt_id,
                        "arousal": float(batch["arousal"][row]),
                        "valence": float(batch["valence"][row]),
                    }
                )
    model.cpu().train(training)  # the fusion block must train with its dropout on afterwards
    return EncodedSplit(items)


@dataclass(frozen=True)
class FusionLoss:
    """What a fusion module is built with besides its model: the stage's training settings, the
    classes, and the loss's class weights and focal gamma."""

    training: StageTraining
    classes: list[str]
    weights: list[float] | None = None
    focal_gamma: float = 0.0

    def module(self, model: torch.nn.Module, training: StageTraining | None = None) -> FusionModule:
        """A fresh module around ``model`` (``training``: other settings than the stage's, a refit's)."""
        return FusionModule(model, training or self.training, self.classes, self.weights, self.focal_gamma)

    def restored(self, checkpoint: str, model: torch.nn.Module) -> FusionModule:
        """The fusion module saved in ``checkpoint`` (read as data only), around ``model``."""
        return FusionModule.load_from_checkpoint(
            checkpoint,
            model=model,
            training=self.training,
            classes=self.classes,
            class_weights=self.weights,
            focal_gamma=self.focal_gamma,
            weights_only=True,
        )


def _frozen_both(model: torch.nn.Module) -> bool:
    return set(getattr(model, "frozen", ())) == {"audio", "text"}


def _blanked(variant: str, split):
    """``split`` as ``variant`` sees it: the ablations blank one modality."""
    if variant in (Variant.audio_only, Variant.text_only):
        return Blanked(split, "text" if variant == Variant.audio_only else "audio")
    return split


def train_fusion(variant: str, model: torch.nn.Module, task: FoldTask, outcome: FoldOutcome) -> str:
    """Train one fusion variant on the task's fold and keep its test predictions in ``outcome``;
    returns the checkpoint its weights come from."""
    data, trainer, classes = task.data, task.trainer, task.classes
    train, val, test = (_blanked(variant, split) for split in (data.train, data.val, data.test))
    if _frozen_both(model):
        # Only the fusion block trains: encode every utterance once instead of once per epoch.
        device = torch.device(trainer.device())
        train, val, test = (encode_split(model, split, device=device) for split in (train, val, test))
    labels = split_labels(data.train)
    imbalance = task.balance
    weights = class_weights(labels, len(classes)) if imbalance.class_weighted else None
    loss = FusionLoss(task.preset.training.fusion, classes, weights, imbalance.focal_gamma)
    start = copy.deepcopy(model) if task.preset.training.refit else None
    datamodule = VamerDataModule(
        train,
        val,
        test,
        batch_size=loss.training.batch_size,
        seed=task.seed,
        balance_by=list(labels) if imbalance.balanced_sampler else None,
        **trainer.loader_args(),
    )
    result = fit_stage("fusion", loss.module(model), datamodule, task.out / variant, loss.training, task.fit_options())
    chosen = result.best_checkpoint
    if variant == Variant.fusion and outcome.probe is not None:
        network = _split_rows(chosen, model, val, loss, task)
        weight = probe_weight(network, probe_rows(outcome.probe_on_train, data.val, classes), classes)
        outcome.probe.ensemble_weight.fill_(weight)
        outcome.notes.append(
            f"ensemble: the linear probe's share {weight:g}, chosen on validation among "
            f"{', '.join(f'{w:g}' for w in PROBE_SHARES)} (0: the network alone, 1: the probe alone)"
        )
    if start is not None:
        chosen, model = _refit(variant, start, (chosen, model), (train, val), loss, task, outcome)
    best = loss.restored(chosen, model)
    model.load_state_dict(best.model.state_dict())
    tester(trainer).test(best, datamodule=datamodule, verbose=False)
    outcome.models[variant] = model
    outcome.predictions[variant] = _ensembled(variant, best.predictions, data.test, outcome, classes)
    if data.test_without_context is not None:
        alone = _blanked(variant, data.test_without_context)
        if _frozen_both(model):
            alone = encode_split(model, alone, device=torch.device(trainer.device()))
        loader = VamerDataModule(alone, alone, batch_size=64, **trainer.loader_args()).test_dataloader()
        tester(trainer).test(best, dataloaders=loader, verbose=False)
        outcome.without_context[variant] = _ensembled(
            variant, best.predictions, data.test_without_context, outcome, classes, members=False
        )
    return chosen


def _ensembled(
    variant: str, rows: list[dict[str, Any]], split, outcome: FoldOutcome, classes: list[str], members: bool = True
) -> list[dict[str, Any]]:
    """The fusion network's test ``rows`` of ``split`` averaged with the probe's (the method, when it
    has a probe ensemble; with ``members`` each member's rows are kept too), else as they are."""
    if variant != Variant.fusion or outcome.probe is None:
        return rows
    probe = probe_rows(outcome.probe, split, classes)
    if members:
        outcome.members["network"], outcome.members["probe"] = rows, probe
    return ensemble_rows(rows, probe, classes, float(outcome.probe.ensemble_weight))


def refit_epochs(chosen: int, training: StageTraining, floor: int) -> int:
    """How long the refit trains: the epochs validation chose, but never fewer than ``floor`` (nor
    more than the stage's maximum).  One epoch chosen on a noisy validation split once left a refit
    whose one-cycle schedule warmed up and decayed inside a single epoch: it predicted one class.

    >>> refit_epochs(1, StageTraining(epochs=30), 5), refit_epochs(12, StageTraining(epochs=30), 5)
    (5, 12)
    """
    return min(training.epochs, max(chosen, floor))


REFIT_MARGIN = 0.05  # macro F1 a refit may lose on the validation split it trained on before it counts as degenerate


def _split_rows(
    checkpoint: str, model: torch.nn.Module, dataset, loss: FusionLoss, task: FoldTask
) -> list[dict[str, Any]]:
    """A fusion checkpoint's predictions of every item of ``dataset`` (rows as the test step writes them)."""
    module = loss.restored(checkpoint, model)
    loader = VamerDataModule(dataset, dataset, batch_size=64, **task.trainer.loader_args()).test_dataloader()
    tester(task.trainer).test(module, dataloaders=loader, verbose=False)
    return module.predictions


def _val_scores(
    checkpoint: str, model: torch.nn.Module, val, loss: FusionLoss, task: FoldTask
) -> tuple[float, int, int]:
    """A fusion checkpoint on ``val``: pooled macro F1, how many classes it predicts there, and how
    many classes ``val`` holds."""
    rows = _split_rows(checkpoint, model, val, loss, task)
    truth, predicted = [r["true"] for r in rows], [r["pred"] for r in rows]
    return classification_metrics(truth, predicted, loss.classes)["macro_f1"], len(set(predicted)), len(set(truth))


def degenerated(before: tuple[float, int, int], after: tuple[float, int, int]) -> bool:
    """Whether a refit collapsed, from (macro F1, classes predicted, classes present) on the
    validation split for the validated model (``before``) and the refit (``after``), which trained
    on that split: it lost more than :data:`REFIT_MARGIN` macro F1 there, or it predicts fewer of the
    classes present than the validated model did.

    >>> degenerated((0.70, 3, 3), (0.68, 3, 3)), degenerated((0.70, 3, 3), (0.30, 1, 3))
    (False, True)
    >>> degenerated((0.91, 6, 5), (1.00, 5, 5))   # the validated model also guessed an absent class
    False
    """
    present = after[2]
    return after[0] < before[0] - REFIT_MARGIN or min(after[1], present) < min(before[1], present)


def _refit(
    variant: str,
    start: torch.nn.Module,
    validated: tuple[str, torch.nn.Module],
    splits: tuple[Any, Any],
    loss: FusionLoss,
    task: FoldTask,
    outcome: FoldOutcome,
) -> tuple[str, torch.nn.Module]:
    """Train ``variant`` again from ``start`` on train + val (``splits``, as the variant sees them)
    for the epochs validation chose (at least ``training.refit_min_epochs``), and keep it only if it
    did not degenerate (:func:`degenerated`): the refit has seen the validation split, so it must
    score about what the validated model (``validated``: its checkpoint and model) scored there and
    predict as many of its classes; otherwise the validated model is kept, and a note says so.
    Returns the chosen checkpoint and the model it loads into."""
    training, floor = loss.training, task.preset.training.refit_min_epochs
    train, val = splits
    chosen = int(read_checkpoint(validated[0])["epoch"]) + 1
    epochs = refit_epochs(chosen, training, floor)
    refit = training.model_copy(update={"epochs": epochs})
    both = torch.utils.data.ConcatDataset([train, val])
    both_labels = [*split_labels(task.data.train), *split_labels(task.data.val)]
    datamodule = VamerDataModule(
        both,
        val,
        batch_size=training.batch_size,
        seed=task.seed,
        balance_by=both_labels if task.balance.balanced_sampler else None,
        **task.trainer.loader_args(),
    )
    refitted = fit_stage(
        "fusion", loss.module(start, refit), datamodule, task.out / f"{variant}-refit", refit, task.fit_options(False)
    ).last_checkpoint
    before = _val_scores(*validated, val, loss, task)
    after = _val_scores(refitted, start, val, loss, task)
    length = f"{epochs} epochs" + (
        f" (validation chose {chosen}, raised to the floor of {floor}, at most {training.epochs})"
        if epochs != chosen
        else " (chosen on validation)"
    )
    if degenerated(before, after):
        outcome.notes.append(
            f"{variant}: the refit on train + val for {length} degenerated (on the validation "
            f"split it had seen: macro F1 {after[0]:.3f}, {after[1]} classes predicted, against "
            f"{before[0]:.3f} and {before[1]} before); the validated model is kept"
        )
        return validated
    outcome.notes.append(f"{variant}: refitted on train + val for {length}")
    return refitted, start

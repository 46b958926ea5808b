"""The method's recipe on one fold, as a preset spells it: pretrain arousal (audio), pretrain
valence (text), train the fusion classifier on the pretrained encoders, and predict the fold's
test split.

``train_fold`` is what ``vamer run`` repeats over folds and seeds; each stage keeps its own
checkpoints and logs under ``out/fold{k}-seed{s}/{stage}``.  The recipe sits above the stages it
combines: it builds the preset's models (:mod:`vamer.presets.build`) and trains them through
:mod:`vamer.training`, which knows nothing of presets.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vamer.errors import VamerError
from vamer.features.store import FoldData, SplitData
from vamer.metrics import classification_metrics
from vamer.models.probe import LinearProbe
from vamer.presets import Preset, functionals_dim
from vamer.presets.build import build_models
from vamer.training.config import StageTraining
from vamer.training.data import (
    EncodedSplit,
    VamerDataModule,
    clip_statistics,
    collate,
    input_scale,
    item_lengths,
    rated,
    rating_scale,
    split_labels,
)
from vamer.training.devices import TrainerOptions
from vamer.training.journal import FoldJournal
from vamer.training.modules import FusionModule, RegressionModule
from vamer.training.stages import StageResult, fit_stage, is_global_zero, read_checkpoint, tester


class Variant(StrEnum):
    """What one trained classifier of a fold is: the method (fusion of the pretrained encoders) or
    one of its ablations.  A member is its own name as a string (JSON, CSV and dict keys alike)."""

    fusion = "fusion"
    audio_only = "audio_only"  # the text blanked, in training and test
    text_only = "text_only"  # the audio blanked
    fusion_no_pretraining = "fusion_no_pretraining"  # both encoders start untrained and train in fusion


VARIANTS = tuple(Variant)


@dataclass
class Imbalance:
    """Options beyond augmentation: class-weighted loss, balanced sampler, focal loss (gamma > 0)."""

    class_weighted: bool = False
    balanced_sampler: bool = False
    focal_gamma: float = 0.0

    @classmethod
    def of(
        cls,
        preset: Preset,
        class_weighted: bool | None = None,
        balanced_sampler: bool | None = None,
        focal_gamma: float | None = None,
    ) -> "Imbalance":
        """The preset's own choice, with each option given (not None) taking its place."""
        training = preset.training
        return cls(
            training.class_weighted if class_weighted is None else class_weighted,
            training.balanced_sampler if balanced_sampler is None else balanced_sampler,
            training.focal_gamma if focal_gamma is None else focal_gamma,
        )


def parse_variants(spec: str | None) -> tuple[Variant, ...] | None:
    """``--variants`` of ``vamer run``: fusion always, then the named ablations in order (None: the default).

    >>> parse_variants("text_only, fusion") == (Variant.fusion, Variant.text_only)
    True
    """
    if spec is None:
        return None
    names = tuple(dict.fromkeys(["fusion", *(v.strip() for v in spec.split(",") if v.strip())]))
    unknown = [v for v in names if v not in Variant.__members__]
    if unknown:
        raise VamerError(f"unknown variant(s) {', '.join(unknown)}; choose among {', '.join(VARIANTS)}")
    return tuple(Variant(name) for name in names)


@dataclass
class FoldOutcome:
    predictions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # variant -> rows
    regression: dict[str, dict[str, float]] = field(default_factory=dict)
    models: dict[str, torch.nn.Module] = field(default_factory=dict)
    pretrained: dict[str, bool] = field(default_factory=dict)  # stage -> its regressor was trained
    notes: list[str] = field(default_factory=list)
    # variant -> test rows predicted with no statistics of the test speakers (speaker context only)
    without_context: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # with a probe ensemble: "network" (the fusion classifier alone) and "probe" -> test rows
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    probe: LinearProbe | None = None
    probe_on_train: LinearProbe | None = None  # the probe fitted on the training split alone (validation's view)


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


def _regression(
    stage: str,
    model,
    data: FoldData,
    preset: Preset,
    out: Path,
    seed: int,
    progress: bool,
    outcome: FoldOutcome,
    resume: bool = False,
    trainer: TrainerOptions = TrainerOptions(),
) -> StageResult | None:
    """Pretrain ``stage`` (arousal or valence) and load its best weights into ``model``; its pooled
    test metrics go into ``outcome``.  Returns the stage's result (its best checkpoint is where the
    weights come from), or ``None`` when there was nothing to pretrain on.  ``vamer run`` and
    ``vamer train arousal|valence`` both pretrain through here."""
    train, val, test = (rated(getattr(data, split), stage) for split in ("train", "val", "test"))
    if len(train) == 0 or len(val) == 0:
        outcome.notes.append(f"{stage} pretraining skipped: no {stage} ratings in train or val")
        return None
    model.head.set_scale(*rating_scale(data.train, stage))
    training = getattr(preset.training, stage)
    module = RegressionModule(model, training, stage)
    result = fit_stage(
        stage,
        module,
        VamerDataModule(train, val, test, batch_size=training.batch_size, seed=seed, **trainer.loader_args()),
        out / stage,
        training,
        seed=seed,
        progress=progress,
        resume=resume,
        trainer=trainer,
    )
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


def _fusion(
    variant: str,
    model,
    data: FoldData,
    preset: Preset,
    classes: list[str],
    out: Path,
    seed: int,
    imbalance: Imbalance,
    progress: bool,
    outcome: FoldOutcome,
    resume: bool = False,
    trainer: TrainerOptions = TrainerOptions(),
) -> str:
    """Train one fusion variant on ``data`` and keep its test predictions in ``outcome``; returns the
    checkpoint its weights come from."""
    train, val, test = data.train, data.val, data.test
    if variant in (Variant.audio_only, Variant.text_only):
        drop = "text" if variant == Variant.audio_only else "audio"
        train, val, test = (Blanked(split, drop) for split in (train, val, test))
    if set(getattr(model, "frozen", ())) == {"audio", "text"}:
        # Only the fusion block trains: encode every utterance once instead of once per epoch.
        device = torch.device(trainer.device())
        train, val, test = (encode_split(model, split, device=device) for split in (train, val, test))
    labels = split_labels(data.train)
    weights = class_weights(labels, len(classes)) if imbalance.class_weighted else None
    training = preset.training.fusion
    start = copy.deepcopy(model) if preset.training.refit else None
    module = FusionModule(model, training, classes, weights, imbalance.focal_gamma)
    datamodule = VamerDataModule(
        train,
        val,
        test,
        batch_size=training.batch_size,
        seed=seed,
        balanced=imbalance.balanced_sampler,
        labels=list(labels),
        **trainer.loader_args(),
    )
    result = fit_stage(
        "fusion",
        module,
        datamodule,
        out / variant,
        training,
        seed=seed,
        progress=progress,
        resume=resume,
        trainer=trainer,
    )
    chosen = result.best_checkpoint
    if variant == Variant.fusion and outcome.probe is not None:
        network = _split_rows(chosen, model, val, classes, weights, imbalance, training, trainer)
        weight = probe_weight(network, probe_rows(outcome.probe_on_train, data.val, classes), classes)
        outcome.probe.ensemble_weight.fill_(weight)
        outcome.notes.append(
            f"ensemble: the linear probe's share {weight:g}, chosen on validation among "
            f"{', '.join(f'{w:g}' for w in PROBE_SHARES)} (0: the network alone, 1: the probe alone)"
        )
    if start is not None:
        chosen, model = _refit(
            variant,
            start,
            model,
            chosen,
            train,
            val,
            data,
            labels,
            classes,
            weights,
            imbalance,
            preset,
            out,
            seed,
            progress,
            outcome,
            trainer,
        )
    best = _fusion_from(chosen, model, training, classes, weights, imbalance)
    model.load_state_dict(best.model.state_dict())
    tester(trainer).test(best, datamodule=datamodule, verbose=False)
    rows = best.predictions
    outcome.models[variant] = model
    alone = data.test_without_context
    if alone is not None:
        if variant in (Variant.audio_only, Variant.text_only):
            alone = Blanked(alone, "text" if variant == Variant.audio_only else "audio")
        if set(getattr(model, "frozen", ())) == {"audio", "text"}:
            alone = encode_split(model, alone, device=torch.device(trainer.device()))
        loader = VamerDataModule(alone, alone, batch_size=64, **trainer.loader_args()).test_dataloader()
        tester(trainer).test(best, dataloaders=loader, verbose=False)
        alone_rows = best.predictions
    if variant == Variant.fusion and outcome.probe is not None:
        outcome.members["network"] = rows
        outcome.members["probe"] = probe_rows(outcome.probe, data.test, classes)
        share = float(outcome.probe.ensemble_weight)
        rows = ensemble_rows(rows, outcome.members["probe"], classes, share)
        if data.test_without_context is not None:
            alone_rows = ensemble_rows(
                alone_rows, probe_rows(outcome.probe, data.test_without_context, classes), classes, share
            )
    outcome.predictions[variant] = rows
    if data.test_without_context is not None:
        outcome.without_context[variant] = alone_rows
    return chosen


PROBE_C = (0.01, 0.1, 1.0)  # inverse regularisation strengths tried on validation, as the baseline probe's


def _probe_inputs(dataset, originals_only: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``[n, D]`` flattened frozen inputs (as :class:`LinearProbe` reads them), labels and ids."""
    rows = getattr(dataset, "rows", None)
    indices = range(len(dataset))
    if originals_only and rows is not None:
        indices = [i for i, source in enumerate(rows["aug_of"]) if not source]
    items = [dataset[i] for i in indices]
    x = LinearProbe.flatten(
        torch.as_tensor(np.stack([item["upstream"] for item in items])).float(),
        torch.as_tensor(np.stack([item["functionals"] for item in items])).float(),
    ).numpy()
    return x, np.array([int(item["label"]) for item in items]), [item["utt_id"] for item in items]


def _both_views(train) -> tuple[np.ndarray, np.ndarray]:
    """The probe's training rows: with speaker context, every original clip twice, normalised by its
    speaker's statistics and by the population's, so that the probe reads a stranger's clip as well
    (on EmoDB, a logistic regression trained so kept UA 0.88 with context and reached 0.82 without,
    against 0.80 with a quarter of the clips shown without); otherwise the clips as they are."""
    if not isinstance(train, SplitData) or train.context is None:
        x, y, _ = _probe_inputs(train, originals_only=True)
        return x, y
    views = [
        _probe_inputs(replace(train, with_context=flag, dropout_seed=None, memo={}, memo_bytes=0), originals_only=True)
        for flag in (True, False)
    ]
    return np.vstack([x for x, _, _ in views]), np.concatenate([y for _, y, _ in views])


def fit_probe(
    data: FoldData, n_classes: int, upstream_shape: tuple[int, int], functionals_dim: int, seed: int, refit: bool = True
) -> tuple[LinearProbe, LinearProbe, float]:
    """A linear probe of the frozen audio inputs, as the baseline probe is fitted: scikit-learn's
    class-balanced logistic regression on standardised inputs, its C chosen by validation macro F1
    (fitted on the training split's original clips), then fitted again on train + val (``refit``).
    Returns the probe as a module, the same fitted on the training split alone (what validation
    judges), and the C chosen."""
    x_train, y_train = _both_views(data.train)
    x_val, y_val, _ = _probe_inputs(data.val)

    def fitted(x: np.ndarray, y: np.ndarray, c: float):
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)
        ).fit(x, y)

    labels = list(range(n_classes))
    tried = {
        c: f1_score(y_val, fitted(x_train, y_train, c).predict(x_val), labels=labels, average="macro", zero_division=0)
        for c in PROBE_C
    }
    c = max(tried, key=tried.get)
    on_train = _as_module(fitted(x_train, y_train, c), n_classes, upstream_shape, functionals_dim)
    if not refit:
        return on_train, on_train, c
    final = fitted(np.vstack([x_train, x_val]), np.concatenate([y_train, y_val]), c)
    return _as_module(final, n_classes, upstream_shape, functionals_dim), on_train, c


def _as_module(pipeline, n_classes: int, upstream_shape: tuple[int, int], functionals_dim: int) -> LinearProbe:
    """A fitted StandardScaler -> LogisticRegression pipeline as a :class:`LinearProbe`."""
    scaler, regression = pipeline[0], pipeline[1]
    width = len(scaler.mean_)
    probe = LinearProbe(upstream_shape, functionals_dim, n_classes)
    with torch.no_grad():
        probe.mean.copy_(torch.as_tensor(scaler.mean_, dtype=torch.float))
        probe.std.copy_(torch.as_tensor(scaler.scale_, dtype=torch.float))
        weight = torch.zeros(n_classes, width)
        bias = torch.zeros(n_classes)
        # scikit-learn keeps one row per class it saw (a binary problem: one row for class 1).
        seen = [int(k) for k in regression.classes_]
        if len(seen) == 2:
            weight[seen[1]] = torch.as_tensor(regression.coef_[0], dtype=torch.float)
            bias[seen[1]] = float(regression.intercept_[0])
        else:
            weight[seen] = torch.as_tensor(regression.coef_, dtype=torch.float)
            bias[seen] = torch.as_tensor(regression.intercept_, dtype=torch.float)
        # A class the fit never saw gets a logit far below every other.
        absent = [k for k in range(n_classes) if k not in seen]
        bias[absent] = -1e4
        probe.linear.weight.copy_(weight)
        probe.linear.bias.copy_(bias)
    return probe.eval()


def probe_rows(probe: LinearProbe, dataset, classes: list[str]) -> list[dict[str, Any]]:
    """The probe's predictions of every item of ``dataset``, rows as the fusion stage writes them."""
    x, labels, ids = _probe_inputs(dataset)
    with torch.no_grad():
        probabilities = probe.linear((torch.as_tensor(x) - probe.mean) / probe.std).softmax(dim=-1).numpy()
    return [
        {
            "utt_id": utt_id,
            "true": classes[int(true)],
            "pred": classes[int(p.argmax())],
            **{f"p_{c}": float(v) for c, v in zip(classes, p)},
        }
        for utt_id, true, p in zip(ids, labels, probabilities)
    ]


PROBE_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)  # the probe's share in the ensemble, chosen on validation


def probe_weight(network: list[dict[str, Any]], probe: list[dict[str, Any]], classes: list[str]) -> float:
    """The probe's share in the ensemble with the best validation macro F1 among :data:`PROBE_SHARES`
    (the network and the probe each as validation judges them: fitted on the training split); a tie
    goes to the larger share, the simpler model.

    >>> net = [{"utt_id": "a", "true": "x", "pred": "y", "p_x": 0.2, "p_y": 0.8}]
    >>> probe_weight(net, [{"utt_id": "a", "true": "x", "pred": "x", "p_x": 0.9, "p_y": 0.1}], ["x", "y"])
    1.0
    """
    scored = {}
    for share in PROBE_SHARES:
        rows = ensemble_rows(network, probe, classes, share)
        truth, predicted = [r["true"] for r in rows], [r["pred"] for r in rows]
        scored[share] = classification_metrics(truth, predicted, classes)["macro_f1"]
    best = max(scored.values())
    return max(share for share, value in scored.items() if value >= best - 1e-12)


def ensemble_rows(
    network: list[dict[str, Any]], probe: list[dict[str, Any]], classes: list[str], share: float = 0.5
) -> list[dict[str, Any]]:
    """The two members' class probabilities averaged row by row (matched by utt_id), the probe's
    weighing ``share`` and the network's the rest."""
    by_id = {row["utt_id"]: row for row in probe}
    rows = []
    for row in network:
        other = by_id[row["utt_id"]]
        p = np.array([(1 - share) * row[f"p_{c}"] + share * other[f"p_{c}"] for c in classes])
        rows.append(
            {
                "utt_id": row["utt_id"],
                "true": row["true"],
                "pred": classes[int(p.argmax())],
                **{f"p_{c}": float(v) for c, v in zip(classes, p)},
            }
        )
    return rows


def refit_epochs(chosen: int, training: StageTraining, floor: int) -> int:
    """How long the refit trains: the epochs validation chose, but never fewer than ``floor`` (nor
    more than the stage's maximum).  One epoch chosen on a noisy validation split once left a refit
    whose one-cycle schedule warmed up and decayed inside a single epoch: it predicted one class.

    >>> refit_epochs(1, StageTraining(epochs=30), 5), refit_epochs(12, StageTraining(epochs=30), 5)
    (5, 12)
    """
    return min(training.epochs, max(chosen, floor))


def _fusion_from(
    checkpoint: str, model: torch.nn.Module, training: StageTraining, classes: list[str], weights, imbalance: Imbalance
) -> FusionModule:
    """The fusion module saved in ``checkpoint`` (read as data only), around ``model``."""
    return FusionModule.load_from_checkpoint(
        checkpoint,
        model=model,
        training=training,
        classes=classes,
        class_weights=weights,
        focal_gamma=imbalance.focal_gamma,
        weights_only=True,
    )


REFIT_MARGIN = 0.05  # macro F1 a refit may lose on the validation split it trained on before it counts as degenerate


def _split_rows(
    checkpoint: str,
    model: torch.nn.Module,
    dataset,
    classes: list[str],
    weights,
    imbalance: Imbalance,
    training: StageTraining,
    trainer: TrainerOptions,
) -> list[dict[str, Any]]:
    """A fusion checkpoint's predictions of every item of ``dataset`` (rows as the test step writes them)."""
    module = _fusion_from(checkpoint, model, training, classes, weights, imbalance)
    loader = VamerDataModule(dataset, dataset, batch_size=64, **trainer.loader_args()).test_dataloader()
    tester(trainer).test(module, dataloaders=loader, verbose=False)
    return module.predictions


def _val_scores(
    checkpoint: str,
    model: torch.nn.Module,
    val,
    classes: list[str],
    weights,
    imbalance: Imbalance,
    training: StageTraining,
    trainer: TrainerOptions,
) -> tuple[float, int, int]:
    """A fusion checkpoint on ``val``: pooled macro F1, how many classes it predicts there, and how
    many classes ``val`` holds."""
    rows = _split_rows(checkpoint, model, val, classes, weights, imbalance, training, trainer)
    truth, predicted = [r["true"] for r in rows], [r["pred"] for r in rows]
    return classification_metrics(truth, predicted, classes)["macro_f1"], len(set(predicted)), len(set(truth))


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
    validated: torch.nn.Module,
    validated_checkpoint: str,
    train,
    val,
    data: FoldData,
    labels,
    classes: list[str],
    weights,
    imbalance: Imbalance,
    preset: Preset,
    out: Path,
    seed: int,
    progress: bool,
    outcome: FoldOutcome,
    trainer: TrainerOptions,
) -> tuple[str, torch.nn.Module]:
    """Train ``variant`` again from ``start`` on train + val for the epochs validation chose (at least
    ``training.refit_min_epochs``), and keep it only if it did not degenerate (:func:`degenerated`):
    the refit has seen the validation split, so it must score about what the validated model scored
    there and predict as many of its classes; otherwise the validated model is kept, and a note says
    so.  Returns the chosen checkpoint and the model it loads into."""
    training = preset.training.fusion
    chosen = int(read_checkpoint(validated_checkpoint)["epoch"]) + 1
    epochs = refit_epochs(chosen, training, preset.training.refit_min_epochs)
    refit = training.model_copy(update={"epochs": epochs})
    both = torch.utils.data.ConcatDataset([train, val])
    both_labels = [*labels, *split_labels(data.val)]
    module = FusionModule(start, refit, classes, weights, imbalance.focal_gamma)
    datamodule = VamerDataModule(
        both,
        val,
        batch_size=training.batch_size,
        seed=seed,
        balanced=imbalance.balanced_sampler,
        labels=both_labels,
        **trainer.loader_args(),
    )
    refitted = fit_stage(
        "fusion",
        module,
        datamodule,
        out / f"{variant}-refit",
        refit,
        seed=seed,
        progress=progress,
        validate=False,
        trainer=trainer,
    ).last_checkpoint
    before = _val_scores(validated_checkpoint, validated, val, classes, weights, imbalance, training, trainer)
    after = _val_scores(refitted, start, val, classes, weights, imbalance, training, trainer)
    length = f"{epochs} epochs" + (
        f" (validation chose {chosen}, raised to the floor of "
        f"{preset.training.refit_min_epochs}, at most {training.epochs})"
        if epochs != chosen
        else " (chosen on validation)"
    )
    if degenerated(before, after):
        outcome.notes.append(
            f"{variant}: the refit on train + val for {length} degenerated (on the validation "
            f"split it had seen: macro F1 {after[0]:.3f}, {after[1]} classes predicted, against "
            f"{before[0]:.3f} and {before[1]} before); the validated model is kept"
        )
        return validated_checkpoint, validated
    outcome.notes.append(f"{variant}: refitted on train + val for {length}")
    return refitted, start


def scale_inputs(models: dict[str, torch.nn.Module], train, preset: Preset) -> None:
    """Fit the audio input standardisation (when the preset asks for it) and the standardisation of
    the clip functionals and of a frozen encoder's states read side by side (when the encoder reads
    them) on the training split."""
    encoder = models["arousal"].encoder
    if preset.audio_block.standardize_input:
        encoder.set_input_scale(*input_scale(train))
    if encoder.functionals_dim:
        encoder.set_functionals_scale(*clip_statistics(train))
    if encoder.upstream_shape[0] and encoder.upstream_read == "concat":
        encoder.set_upstream_scale(*clip_statistics(train, "upstream"))


def fresh_fusion(
    preset: Preset,
    classes: list[str],
    text_dim: int | None,
    vocab_size: int | None,
    seed: int,
    source: dict[str, torch.nn.Module],
    pretrained: dict[str, bool],
) -> torch.nn.Module:
    """A fusion classifier whose encoders start as ``source``'s regressors' encoders (weights and input
    scale); only the pretrained ones are frozen, and only when the preset freezes encoders."""
    torch.manual_seed(seed)
    model = build_models(preset, len(classes), text_dim, vocab_size)["fusion"]
    model.audio.load_state_dict(source["arousal"].encoder.state_dict())
    model.text.load_state_dict(source["valence"].encoder.state_dict())
    freeze = preset.fusion.freeze_encoders
    model.freeze(audio=freeze and pretrained["arousal"], text=freeze and pretrained["valence"])
    return model


def train_fold(
    data: FoldData,
    preset: Preset,
    classes: list[str],
    out: Path,
    seed: int,
    text_dim: int | None,
    vocab_size: int | None = None,
    imbalance: Imbalance | None = None,
    variants=VARIANTS,
    progress: bool = False,
    journal: FoldJournal | None = None,
    trainer: TrainerOptions = TrainerOptions(),
) -> FoldOutcome:
    """Pretrain both encoders, train each fusion variant, and predict the test split.

    Encoders are trained during pretraining and frozen (per the preset) only for fusion; an encoder
    whose stage had no ratings was not pretrained and trains inside fusion instead.  With a
    ``journal``, each finished step (pretraining, each variant) is recorded, and a step the journal
    holds is restored from its checkpoint instead of trained again (a resumed run).
    """
    imbalance = imbalance or Imbalance.of(preset)
    outcome = FoldOutcome()
    torch.manual_seed(seed)
    models = build_models(preset, len(classes), text_dim, vocab_size)
    scale_inputs(models, data.train, preset)
    untrained = copy.deepcopy(models)
    if preset.fusion.probe_ensemble:
        outcome.probe, outcome.probe_on_train, c = fit_probe(
            data,
            len(classes),
            models["arousal"].encoder.upstream_shape,
            functionals_dim(preset),
            seed,
            refit=preset.training.refit,
        )
        outcome.notes.append(
            f"linear probe of the frozen audio inputs: C {c:g} (chosen on validation)"
            + (", refitted on train + val" if preset.training.refit else "")
        )
    test_truth = split_truth(data.test, classes)
    pretrained = _pretraining(models, data, preset, out, seed, progress, outcome, journal, trainer, test_truth)
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
            model = fresh_fusion(
                preset, classes, text_dim, vocab_size, seed, untrained, {"arousal": False, "valence": False}
            )
        else:
            model = fresh_fusion(preset, classes, text_dim, vocab_size, seed, models, pretrained)
        done = journal.load(variant, test_truth, classes) if journal else None
        weights = journal.weights(model, done["checkpoint"]) if done else None
        if done and weights is not None:
            model.load_state_dict(weights)
            outcome.predictions[variant], outcome.models[variant] = done["predictions"], model
            outcome.notes.extend(done["notes"])
            if done.get("without_context") is not None:
                outcome.without_context[variant] = done["without_context"]
            if done.get("probe_weight") is not None and outcome.probe is not None:
                outcome.probe.ensemble_weight.fill_(float(done["probe_weight"]))
            outcome.members.update(done.get("members") or {})
            continue
        before = len(outcome.notes)
        _clear(out, (variant, f"{variant}-refit"))
        chosen = _fusion(
            variant, model, data, preset, classes, out, seed, imbalance, progress, outcome, trainer=trainer
        )
        if journal and is_global_zero():
            journal.save(
                variant,
                {
                    "predictions": outcome.predictions[variant],
                    "notes": outcome.notes[before:],
                    "checkpoint": journal.relative(chosen),
                    "without_context": outcome.without_context.get(variant),
                    "members": outcome.members if variant == Variant.fusion else {},
                    "probe_weight": (
                        float(outcome.probe.ensemble_weight)
                        if variant == Variant.fusion and outcome.probe is not None
                        else None
                    ),
                },
            )
    return outcome


def _pretraining(
    models: dict[str, torch.nn.Module],
    data: FoldData,
    preset: Preset,
    out: Path,
    seed: int,
    progress: bool,
    outcome: FoldOutcome,
    journal: FoldJournal | None,
    trainer: TrainerOptions,
    test_truth: dict[str, str],
) -> dict[str, bool]:
    """Pretrain the arousal and valence regressors (or restore them from the journal); which were."""
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
    _clear(out, ("arousal", "valence"))
    results = {
        stage: _regression(stage, models[stage], data, preset, out, seed, progress, outcome, trainer=trainer)
        for stage in ("arousal", "valence")
    }
    checkpoints = {stage: result.best_checkpoint if result else None for stage, result in results.items()}
    if journal and is_global_zero():
        journal.save(
            "pretraining",
            {
                "checkpoints": {stage: journal.relative(c) for stage, c in checkpoints.items()},
                "regression": outcome.regression,
                "notes": list(outcome.notes),
            },
        )
    return {stage: checkpoint is not None for stage, checkpoint in checkpoints.items()}


def split_truth(split, classes: list[str]) -> dict[str, str]:
    """utt_id -> true class of a split's original rows (a :class:`SplitData`, or a list of items)."""
    if hasattr(split, "rows"):
        rows = split.rows[split.rows["aug_of"].fillna("") == ""] if "aug_of" in split.rows else split.rows
        return dict(zip(rows["utt_id"], rows["emotion"]))
    return {item["utt_id"]: classes[int(item["label"])] for item in split if not item.get("aug_of")}


def _clear(out: Path, steps: tuple[str, ...]) -> None:
    """Remove what an interrupted attempt left of ``steps`` (half-written checkpoints and logs), so
    the step trains as it would have the first time."""
    if is_global_zero():
        for step in steps:
            shutil.rmtree(Path(out) / step, ignore_errors=True)


def encoder_weights(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """The encoder part of a regression stage's Lightning checkpoint (keys ``model.encoder.*``)."""
    try:
        state = read_checkpoint(checkpoint)["state_dict"]
    except (KeyError, TypeError) as error:
        raise VamerError(f"{checkpoint}: not a vamer stage checkpoint (no {error})") from None
    prefix = "model.encoder."
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def train_single_stage(
    stage: str,
    data: FoldData,
    preset: Preset,
    classes: list[str],
    out: Path,
    seed: int,
    text_dim: int | None,
    vocab_size: int | None = None,
    resume: bool = False,
    arousal_checkpoint: str | None = None,
    valence_checkpoint: str | None = None,
    imbalance: Imbalance | None = None,
    progress: bool = True,
    trainer: TrainerOptions = TrainerOptions(),
) -> dict[str, Any]:
    """``vamer train STAGE``: one stage alone on one fold; fusion loads the pretrained encoders from
    the two regression checkpoints (or starts them from random weights, with a note)."""
    torch.manual_seed(seed)
    models = build_models(preset, len(classes), text_dim, vocab_size)
    scale_inputs(models, data.train, preset)
    outcome = FoldOutcome()
    if stage in ("arousal", "valence"):
        result = _regression(
            stage, models[stage], data, preset, out, seed, progress, outcome, resume=resume, trainer=trainer
        )
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
    freeze = preset.fusion.freeze_encoders
    fusion.freeze(audio=freeze and bool(arousal_checkpoint), text=freeze and bool(valence_checkpoint))
    imbalance = imbalance or Imbalance.of(preset)
    _fusion(
        "fusion", fusion, data, preset, classes, out, seed, imbalance, progress, outcome, resume=resume, trainer=trainer
    )
    rows = outcome.predictions["fusion"]
    metrics = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], classes)
    return {"stage": "fusion", "test": metrics, "notes": outcome.notes}

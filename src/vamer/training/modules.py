"""Lightning modules: one per stage.  The nn.Modules live in :mod:`vamer.models`; these add the
losses, optimisers, schedules and epoch-level (pooled) validation metrics.

Pooled means over the whole split, on every rank: under DDP each process sees a shard, and a
``DistributedSampler`` pads the shards with repeated utterances so that they are equal.  So each
process's predictions are all-gathered (:func:`pooled_outputs`) and every utterance counts once,
by its id, before any metric is computed; early stopping and checkpoints then follow the whole
split, with the same numbers as on one process."""

from __future__ import annotations

from typing import Any

import lightning
import numpy as np
import torch
from sklearn.metrics import log_loss
from torch import nn
from torch.nn import functional as F

from vamer.metrics import classification_metrics, concordance
from vamer.training.config import StageTraining


def pooled_outputs(outputs: list[tuple], world_size: int) -> list[tuple]:
    """Per-batch ``(array, ..., utt_ids)`` tuples of every rank, each utterance once (first kept).

    One process: ``outputs`` as they are.  Several: gathered with ``all_gather_object`` (any
    backend; the arrays of a validation split are small).
    """
    if world_size > 1:
        everyone: list[list[tuple] | None] = [None] * world_size
        torch.distributed.all_gather_object(everyone, outputs)
        outputs = [batch for rank in everyone for batch in (rank or [])]
    seen: set[str] = set()
    pooled = []
    for *arrays, ids in outputs:
        keep = [i for i, utt_id in enumerate(ids) if utt_id not in seen]
        seen.update(ids[i] for i in keep)
        if keep:
            pooled.append((*(array[keep] for array in arrays), [ids[i] for i in keep]))
    return pooled


class _Stage(lightning.LightningModule):
    def __init__(self, model: nn.Module, training: StageTraining) -> None:
        super().__init__()
        self.model = model
        self.training_settings = training
        self._outputs: dict[str, list] = {"val": [], "test": []}

    def configure_optimizers(self):
        settings = self.training_settings
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        if settings.weight_decay:
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(
                parameters, lr=settings.lr, weight_decay=settings.weight_decay
            )
        else:
            optimizer = torch.optim.Adam(parameters, lr=settings.lr)
        if settings.schedule == "onecycle":
            # Planned over every step the trainer may take; early stopping just ends it sooner.
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=settings.lr,
                total_steps=max(2, int(self.trainer.estimated_stepping_batches)),
                pct_start=max(settings.warmup, 1e-3),
                cycle_momentum=False,
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def validation_step(self, batch: dict[str, Any], index: int) -> None:
        self._outputs["val"].append(self._predict(batch))

    def test_step(self, batch: dict[str, Any], index: int) -> None:
        self._outputs["test"].append(self._predict(batch))

    def _world_size(self) -> int:
        return self._trainer.world_size if self._trainer is not None else 1

    def _pooled(self, split: str) -> list[tuple]:
        """This split's outputs over all ranks, each utterance once; the buffer is emptied."""
        outputs, self._outputs[split] = self._outputs[split], []
        return pooled_outputs(outputs, self._world_size())

    def _log_split(self, name: str, value: float, prog_bar: bool = False) -> None:
        # The same pooled number on every rank: syncing averages equal values (and tells Lightning so).
        self.log(name, float(value), prog_bar=prog_bar, sync_dist=self._world_size() > 1)

    def on_validation_epoch_end(self) -> None:
        self._log_pooled("val")

    def on_test_epoch_end(self) -> None:
        self._log_pooled("test")


class RegressionModule(_Stage):
    """Arousal (audio) or valence (text) regression with the method's RMSE loss, computed on targets
    standardised by the training split's mean and std (the model's ``head`` holds that scale, so
    its predictions, and the logged RMSE, are on the rating scale)."""

    def __init__(self, model: nn.Module, training: StageTraining, target: str) -> None:
        super().__init__(model, training)
        self.target = target
        self.inputs = (
            ("audio", "audio_mask", "functionals", "upstream") if target == "arousal" else ("text", "text_mask")
        )

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.model(*(batch[key] for key in self.inputs))

    def training_step(self, batch: dict[str, Any], index: int) -> torch.Tensor:
        head = self.model.head
        predicted = self.model(*(batch[key] for key in self.inputs), standardised=True)
        target = (batch[self.target] - head.target_mean) / head.target_std
        loss = torch.sqrt(F.mse_loss(predicted, target) + 1e-8)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["utt_id"]))
        return loss

    def _predict(self, batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        return self(batch).detach().float().cpu().numpy(), batch[self.target].cpu().numpy(), list(batch["utt_id"])

    def _log_pooled(self, split: str) -> None:
        outputs = self._pooled(split)
        if not outputs:
            return
        pred = np.concatenate([p for p, _, _ in outputs])
        true = np.concatenate([t for _, t, _ in outputs])
        self._log_split(f"{split}_rmse", np.sqrt(np.mean((pred - true) ** 2)), prog_bar=True)
        self._log_split(f"{split}_ccc", concordance(pred, true))
        self._log_split(f"{split}_n", len(pred))


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None, gamma: float) -> torch.Tensor:
    log_p = F.log_softmax(logits, dim=-1)
    ce = F.nll_loss(log_p, labels, weight=weight, reduction="none")
    p_true = log_p.gather(1, labels.unsqueeze(1)).squeeze(1).exp()
    return ((1 - p_true) ** gamma * ce).mean()


class FusionModule(_Stage):
    """Emotion classification: cross-entropy (optionally class-weighted) or focal loss; validation
    macro F1 pooled over the whole split drives checkpoints and early stopping."""

    def __init__(
        self,
        model: nn.Module,
        training: StageTraining,
        classes: list[str],
        class_weights: list[float] | None = None,
        focal_gamma: float = 0.0,
    ) -> None:
        super().__init__(model, training)
        self.classes = classes
        self.focal_gamma = focal_gamma
        self.register_buffer(
            "class_weights",
            torch.tensor(class_weights, dtype=torch.float) if class_weights is not None else torch.empty(0),
        )
        self.predictions: list[dict[str, Any]] = []

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        if "audio_h" in batch:  # an EncodedSplit's batch: the frozen encoders already ran
            return self.model.fuse(batch["audio_h"], batch["audio_h_mask"], batch["text_h"], batch["text_h_mask"])
        return self.model(
            batch["audio"],
            batch["audio_mask"],
            batch["text"],
            batch["text_mask"],
            batch["functionals"],
            batch["upstream"],
        )

    def training_step(self, batch: dict[str, Any], index: int) -> torch.Tensor:
        logits = self(batch)
        weight = self.class_weights if self.class_weights.numel() else None
        if self.focal_gamma > 0:
            loss = focal_loss(logits, batch["label"], weight, self.focal_gamma)
        else:
            loss = F.cross_entropy(logits, batch["label"], weight=weight)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["utt_id"]))
        return loss

    def _predict(self, batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        probabilities = self(batch).float().softmax(dim=-1).detach().cpu().numpy()
        return probabilities, batch["label"].cpu().numpy(), list(batch["utt_id"])

    def _log_pooled(self, split: str) -> None:
        outputs = self._pooled(split)
        if not outputs:
            return
        probabilities = np.concatenate([p for p, _, _ in outputs])
        labels = np.concatenate([t for _, t, _ in outputs])
        weight = self.class_weights.cpu().numpy() if self.class_weights.numel() else np.ones(len(self.classes))
        # Pooled over the split, weighted as the training loss is (focal loss is left out).
        self._log_split(
            f"{split}_loss",
            log_loss(labels, probabilities, sample_weight=weight[labels], labels=list(range(len(self.classes)))),
        )
        names = np.array(self.classes)
        metrics = classification_metrics(list(names[labels]), list(names[probabilities.argmax(1)]), self.classes)
        for key in ("macro_f1", "weighted_f1", "ua", "accuracy"):
            self._log_split(f"{split}_{key}", metrics[key], prog_bar=key == "macro_f1")
        self._log_split(f"{split}_n", len(labels))
        if split == "test":
            self.predictions = [
                {
                    "utt_id": utt_id,
                    "true": self.classes[int(true)],
                    "pred": self.classes[int(probs.argmax())],
                    **{f"p_{c}": float(v) for c, v in zip(self.classes, probs)},
                }
                for batch_probs, batch_true, batch_ids in outputs
                for utt_id, true, probs in zip(batch_ids, batch_true, batch_probs)
            ]

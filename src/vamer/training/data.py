"""The Lightning data module over the item contract of :mod:`vamer.features.store`.

Any map-style dataset whose items are dicts with ``audio, audio_mask, text, text_mask, label,
arousal, valence, utt_id`` (and optionally ``functionals``, ``upstream``) works (a ``SplitData``, or a test's own
list of dicts).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import lightning
import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

TENSOR_KEYS = ("audio", "audio_mask", "text", "text_mask", "functionals", "upstream", "label", "arousal", "valence")


NO_FUNCTIONALS = np.zeros(0, dtype=np.float32)
NO_UPSTREAM = np.zeros((0, 0), dtype=np.float32)
TRIM_MULTIPLE = 8  # trimmed lengths stay multiples of every preset's time pooling


def trimmed_length(length: int, full: int) -> int:
    """Where a batch whose longest valid run is ``length`` (of ``full``) can be cut."""
    return min(full, max(TRIM_MULTIPLE, -(-length // TRIM_MULTIPLE) * TRIM_MULTIPLE))


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of items into a batch: tensors for the model inputs and targets, lists for ids.

    Audio frames and text tokens beyond the longest valid one in the batch are cut off: they are
    padding under the masks, so the outputs do not change, and short clips train several times
    faster than at the preset's full 512 frames.
    """
    optional = {"functionals": NO_FUNCTIONALS, "upstream": NO_UPSTREAM}   # side inputs a dataset may lack
    items = [{**{k: v for k, v in optional.items() if k not in item}, **item} for item in items]
    batch: dict[str, Any] = {key: torch.as_tensor(np.stack([np.asarray(item[key]) for item in items]))
                             for key in TENSOR_KEYS}
    frames = trimmed_length(int(batch["audio_mask"].sum(dim=1).max()), batch["audio_mask"].shape[1])
    batch["audio"], batch["audio_mask"] = batch["audio"][:, :, :frames], batch["audio_mask"][:, :frames]
    tokens = trimmed_length(int(batch["text_mask"].sum(dim=1).max()), batch["text_mask"].shape[1])
    batch["text"], batch["text_mask"] = batch["text"][:, :tokens], batch["text_mask"][:, :tokens]
    batch["arousal"] = batch["arousal"].float()
    batch["valence"] = batch["valence"].float()
    batch["functionals"] = batch["functionals"].float()
    batch["upstream"] = batch["upstream"].float()
    batch["utt_id"] = [item["utt_id"] for item in items]
    return batch


def rated(dataset: Dataset, target: str) -> Dataset:
    """The items of ``dataset`` that carry a ``target`` rating (regression stages skip the rest)."""
    rows = getattr(dataset, "rows", None)
    if rows is not None:
        keep = [i for i, value in enumerate(rows[target]) if not math.isnan(float(value))]
    else:
        keep = [i for i in range(len(dataset)) if not math.isnan(float(dataset[i][target]))]
    return Subset(dataset, keep)


def _originals(dataset: Dataset) -> list[int]:
    rows = getattr(dataset, "rows", None)
    if rows is not None:
        return [i for i, source in enumerate(rows["aug_of"]) if not source]
    return [i for i in range(len(dataset)) if not dataset[i].get("aug_of")]


def split_labels(dataset: Dataset) -> np.ndarray:
    """Class indices of a split's items, in order (without building the items when it can)."""
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return np.asarray(labels, dtype=np.int64)
    return np.array([int(dataset[i]["label"]) for i in range(len(dataset))], dtype=np.int64)


def audio_statistics(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of mel and delta per mel bin, ``[2, n_mels]`` each, over the valid frames of the
    original (not augmented) items: the input scale fitted on a training split."""
    scaler = StandardScaler()
    shape = None
    for index in _originals(dataset):
        item = dataset[index]
        keep = np.asarray(item["audio_mask"], dtype=bool)
        valid = np.asarray(item["audio"], dtype=np.float64)[:, keep]                    # [2, t, n_mels]
        if valid.shape[1]:
            shape = (valid.shape[0], valid.shape[2])
            scaler.partial_fit(valid.transpose(1, 0, 2).reshape(valid.shape[1], -1))    # rows = frames
    if shape is None:
        raise ValueError("no valid audio frame in the training split")
    return (torch.tensor(scaler.mean_.reshape(shape), dtype=torch.float),
            torch.tensor(np.sqrt(scaler.var_).reshape(shape), dtype=torch.float))


def functionals_statistics(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std ``[F]`` of the clip functionals of a training split's original items."""
    rows = getattr(dataset, "rows", None)
    store = getattr(dataset, "store", None)
    if rows is not None and store is not None:
        values = np.stack([store.functionals[rows["utt_id"].iloc[i]] for i in _originals(dataset)])
    else:
        values = np.stack([np.asarray(dataset[i]["functionals"]) for i in _originals(dataset)])
    values = values.astype(np.float64)
    return torch.tensor(values.mean(axis=0), dtype=torch.float), torch.tensor(values.std(axis=0), dtype=torch.float)


def rating_scale(dataset: Dataset, target: str) -> tuple[float, float]:
    """Mean and std of the ``target`` ratings of a (rated) split's original items."""
    rows = getattr(dataset, "rows", None)
    if rows is not None:
        values = np.asarray(rows[target], dtype=float)[_originals(dataset)]
    else:
        values = np.array([float(dataset[i][target]) for i in _originals(dataset)])
    values = values[~np.isnan(values)]
    if not len(values):
        raise ValueError(f"no {target} rating in the training split")
    return float(values.mean()), float(values.std())


class EpochSampler(Sampler[int]):
    """Shuffled order (or class-balanced draws with ``weights``) that depends only on (seed, epoch).

    Lightning calls ``set_epoch`` before every epoch, so a run resumed from a checkpoint sees the
    same batches as an uninterrupted one.
    """

    def __init__(self, size: int, seed: int, weights: np.ndarray | None = None) -> None:
        self.size, self.seed, self.weights, self.epoch = size, seed, weights, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.weights is None:
            return iter(rng.permutation(self.size).tolist())
        return iter(rng.choice(self.size, size=self.size, replace=True, p=self.weights).tolist())


class VamerDataModule(lightning.LightningDataModule):
    def __init__(self, train: Dataset, val: Dataset, test: Dataset | None = None, batch_size: int = 32,
                 balanced: bool = False, labels: Sequence[int] | None = None, seed: int = 0,
                 num_workers: int = 0) -> None:
        super().__init__()
        self.train, self.val, self.test = train, val, test
        self.batch_size, self.balanced, self.labels = batch_size, balanced, labels
        self.seed, self.num_workers = seed, num_workers

    def _loader(self, dataset: Dataset, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, collate_fn=collate,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        weights = None
        if self.balanced:
            if self.labels is None:
                raise ValueError("a balanced sampler needs the training labels")
            labels = np.asarray(self.labels)
            weights = 1.0 / np.bincount(labels)[labels]
            weights = weights / weights.sum()
        return self._loader(self.train, EpochSampler(len(self.train), self.seed, weights))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test if self.test is not None else self.val)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

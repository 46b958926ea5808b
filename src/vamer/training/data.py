"""The Lightning data module over the item contract of :mod:`vamer.features.inputs`.

Any map-style dataset of :class:`~vamer.features.inputs.Item` (a ``SplitData``, or a test's own
list of items) works; :func:`collate` stacks items into a :class:`Batch`, and the items a frozen
pair of encoders has already read (:class:`EncodedItem`) into an :class:`EncodedBatch`.
"""

from __future__ import annotations

import math
from typing import Any, NotRequired, Sequence, TypedDict

import lightning
import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from vamer.features.inputs import Item, stack_batch


class Batch(TypedDict):
    """Items stacked (:func:`collate`): the model inputs as tensors, ``[B, ...]``, and the targets."""

    audio: torch.Tensor  # [B, 2, T, n_mels] float32, T = the batch's longest valid run (rounded up)
    audio_mask: torch.Tensor  # [B, T] bool
    text: torch.Tensor  # [B, n, d] float32 (or [B, n] int64 token ids)
    text_mask: torch.Tensor  # [B, n] bool
    functionals: torch.Tensor  # [B, F] float32
    upstream: torch.Tensor  # [B, layers, hidden] float32
    label: torch.Tensor  # [B] int64
    arousal: torch.Tensor  # [B] float32, NaN when unrated
    valence: torch.Tensor  # [B] float32
    utt_id: list[str]


class EncodedItem(TypedDict):
    """One utterance as its frozen encoders see it (an item of :class:`EncodedSplit`)."""

    audio_h: np.ndarray  # [n_a, d] audio encoder outputs up to the last valid position (at least one)
    audio_h_valid: NotRequired[int]  # how many of them are valid, when fewer (a blanked clip: 0)
    text_h: np.ndarray  # [n_t, d] text encoder outputs of the valid tokens
    label: int
    utt_id: str
    arousal: float
    valence: float


class EncodedBatch(TypedDict):
    """Encoded items stacked (:func:`collate_encoded`)."""

    audio_h: torch.Tensor  # [B, S_a, d] zero-padded
    audio_h_mask: torch.Tensor  # [B, S_a] bool
    text_h: torch.Tensor  # [B, S_t, d]
    text_h_mask: torch.Tensor  # [B, S_t] bool
    label: torch.Tensor  # [B] int64
    arousal: torch.Tensor  # [B] float32
    valence: torch.Tensor  # [B] float32
    utt_id: list[str]


def collate(items: list[Item] | list[EncodedItem]) -> Batch | EncodedBatch:
    """Stack a list of items into a batch: tensors for the model inputs and targets, lists for ids
    (items of an :class:`EncodedSplit` go to :func:`collate_encoded`).

    The model inputs are batched by :func:`vamer.features.inputs.stack_batch`, the rule prediction
    uses too: frames and tokens beyond the longest valid one in the batch are cut off (or padded up
    to it), so short clips train several times faster than at the preset's full length.
    """
    if "audio_h" in items[0]:
        return collate_encoded(items)
    batch: dict[str, Any] = {key: torch.as_tensor(value) for key, value in stack_batch(items).items()}
    batch["label"] = torch.as_tensor([int(item["label"]) for item in items])
    for key in ("arousal", "valence"):
        batch[key] = torch.as_tensor([float(item[key]) for item in items], dtype=torch.float)
    for key in ("functionals", "upstream"):
        batch[key] = batch[key].float()
    batch["utt_id"] = [item["utt_id"] for item in items]
    return batch


ENCODED_KEYS = ("audio_h", "text_h")


def collate_encoded(items: list[EncodedItem]) -> EncodedBatch:
    """Batch of encoder outputs: each ``audio_h`` [n_a, d] and ``text_h`` [n_t, d] is zero-padded to
    the batch's longest, with its mask (``audio_h_mask`` [B, S_a], ``text_h_mask`` [B, S_t]) valid over
    the first ``audio_h_valid`` / ``text_h_valid`` positions (default: all of them)."""
    batch: dict[str, Any] = {}
    for key in ENCODED_KEYS:
        sequences = [torch.as_tensor(item[key]) for item in items]
        longest = max(1, max(len(seq) for seq in sequences))
        padded = torch.zeros(len(items), longest, sequences[0].shape[-1])
        mask = torch.zeros(len(items), longest, dtype=torch.bool)
        for row, (seq, item) in enumerate(zip(sequences, items)):
            padded[row, : len(seq)] = seq
            mask[row, : item.get(f"{key}_valid", len(seq))] = True
        batch[key], batch[f"{key}_mask"] = padded, mask
    batch["label"] = torch.as_tensor([int(item["label"]) for item in items])
    for key in ("arousal", "valence"):
        batch[key] = torch.as_tensor([float(item[key]) for item in items], dtype=torch.float)
    batch["utt_id"] = [item["utt_id"] for item in items]
    return batch


class EncodedSplit(Dataset):
    """A split as its frozen encoders see it: per item the audio and text encoder outputs up to their
    last valid position (``audio_h`` [n_a, d], ``text_h`` [n_t, d]; ``audio_h_valid`` says how many
    are valid when that is fewer), with label, ratings and id."""

    def __init__(self, items: list[EncodedItem]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> EncodedItem:
        return self.items[index]

    @property
    def labels(self) -> np.ndarray:
        return np.array([item["label"] for item in self.items], dtype=np.int64)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(item["audio_h"]) + len(item["text_h"]) for item in self.items], dtype=np.int64)


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


def input_scale(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of mel and delta per mel bin, ``[2, n_mels]`` each, over the valid frames of the
    original (not augmented) items: the input scale fitted on a training split."""
    scaler = StandardScaler()
    shape = None
    for index in _originals(dataset):
        item = dataset[index]
        keep = np.asarray(item["audio_mask"], dtype=bool)
        valid = np.asarray(item["audio"], dtype=np.float64)[:, keep]  # [2, t, n_mels]
        if valid.shape[1]:
            shape = (valid.shape[0], valid.shape[2])
            scaler.partial_fit(valid.transpose(1, 0, 2).reshape(valid.shape[1], -1))  # rows = frames
    if shape is None:
        raise ValueError("no valid audio frame in the training split")
    return (
        torch.tensor(scaler.mean_.reshape(shape), dtype=torch.float),
        torch.tensor(np.sqrt(scaler.var_).reshape(shape), dtype=torch.float),
    )


def clip_statistics(dataset: Dataset, key: str = "functionals") -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of a clip-level input over a training split's original items: ``functionals``
    ``[F]`` or a frozen encoder's ``upstream`` states ``[rows, hidden]``, as the model reads them
    (after speaker context, when the split has one: the store holds the raw values)."""
    rows = getattr(dataset, "rows", None)
    store = getattr(dataset, "store", None)
    if rows is not None and store is not None and getattr(dataset, "context", None) is None:
        values = np.stack([getattr(store, key)[rows["utt_id"].iloc[i]] for i in _originals(dataset)])
    else:
        values = np.stack([np.asarray(dataset[i][key]) for i in _originals(dataset)])
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


BUCKET_BATCHES = 8  # batches whose utterances are sorted by length together


def item_lengths(dataset: Dataset) -> np.ndarray | None:
    """Audio frames of every item, read without building the items (``None`` when the dataset
    cannot tell): what the sampler groups batches by."""
    if isinstance(dataset, Subset):
        inner = item_lengths(dataset.dataset)
        return None if inner is None else inner[np.asarray(dataset.indices, dtype=int)]
    if isinstance(dataset, torch.utils.data.ConcatDataset):
        parts = [item_lengths(part) for part in dataset.datasets]
        return None if any(part is None for part in parts) else np.concatenate(parts)
    lengths = getattr(dataset, "lengths", None)
    return None if lengths is None else np.asarray(lengths)


class EpochSampler(Sampler[int]):
    """Shuffled order (or class-balanced draws with ``weights``) that depends only on (seed, epoch).

    Lightning calls ``set_epoch`` before every epoch, so a run resumed from a checkpoint sees the
    same batches as an uninterrupted one.  With ``lengths`` and ``batch_size``, each run of
    ``BUCKET_BATCHES`` batches of that order is sorted by length before it is cut into batches, and
    the batches are shuffled again: batches hold utterances of similar length, so the padding that
    ``collate`` cannot cut shrinks (about 1.7x less compute on the demo corpus), while which
    utterances an epoch sees is unchanged.

    >>> sampler = EpochSampler(10, seed=0, lengths=np.arange(10), batch_size=4)
    >>> order = list(sampler)
    >>> sorted(order) == list(range(10)), len(order[8:])
    (True, 2)
    """

    def __init__(
        self,
        size: int,
        seed: int,
        weights: np.ndarray | None = None,
        lengths: np.ndarray | None = None,
        batch_size: int = 0,
    ) -> None:
        self.size, self.seed, self.weights, self.epoch = size, seed, weights, 0
        self.lengths, self.batch_size = lengths, batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.weights is None:
            order = rng.permutation(self.size)
        else:
            order = rng.choice(self.size, size=self.size, replace=True, p=self.weights)
        if self.lengths is None or self.batch_size < 2:
            return iter(order.tolist())
        window = self.batch_size * BUCKET_BATCHES
        batches = []
        for start in range(0, self.size, window):
            chunk = order[start : start + window]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        # Only the epoch's last batch may be short: a short one elsewhere would shift every later
        # batch boundary of the DataLoader.
        full = [b for b in batches if len(b) == self.batch_size]
        short = [b for b in batches if len(b) < self.batch_size]
        shuffled = [full[i] for i in rng.permutation(len(full))] + short
        return iter(np.concatenate(shuffled).tolist()) if shuffled else iter([])


class VamerDataModule(lightning.LightningDataModule):
    """Loaders of the train, val and test splits in batches of ``batch_size``; the training batches
    are drawn class-balanced by ``balance_by`` (the training items' labels) when it is given, and
    their order depends only on (``seed``, epoch) (:class:`EpochSampler`)."""

    def __init__(
        self,
        train: Dataset,
        val: Dataset,
        test: Dataset | None = None,
        batch_size: int = 32,
        balance_by: Sequence[int] | None = None,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.train, self.val, self.test = train, val, test
        self.batch_size, self.balance_by = batch_size, balance_by
        self.seed, self.num_workers, self.pin_memory = seed, num_workers, pin_memory

    def _loader(self, dataset: Dataset, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        weights = None
        if self.balance_by is not None:
            labels = np.asarray(self.balance_by)
            weights = 1.0 / np.bincount(labels)[labels]
            weights = weights / weights.sum()
        return self._loader(
            self.train, EpochSampler(len(self.train), self.seed, weights, item_lengths(self.train), self.batch_size)
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test if self.test is not None else self.val)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

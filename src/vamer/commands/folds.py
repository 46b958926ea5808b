"""What every training command starts from: the features of the corpus and the folds of ``--cv``
(:func:`training_inputs`), and one fold's data for one seed (:func:`prepare_fold`); ``vamer
features`` shows them (:func:`fold_summaries`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vamer.commands.config import RunConfig
from vamer.data.table import LoadResult
from vamer.errors import VamerError
from vamer.features.config import AugmentConfig
from vamer.features.splits import Fold, make_folds
from vamer.features.store import FeatureStore, FoldData
from vamer.features.text import TrainableTokens
from vamer.training.stages import global_rank, is_global_zero


@dataclass
class TrainingInputs:
    """The features, the folds, and the text encoder's width (``None``: trainable token ids)."""

    store: FeatureStore
    folds: list[Fold]
    text_dim: int | None


def training_inputs(config: RunConfig, result: LoadResult) -> TrainingInputs:
    """Features (built once per distributed run, by rank 0) and the ``config.cv`` folds, as run,
    sweep and train all use them."""
    preset = config.preset
    store = FeatureStore.build(
        result.utterances,
        result.classes,
        preset.audio_features,
        preset.text,
        config.cache,
        progress=config.progress and is_global_zero(),
        rank=global_rank(),
    )
    folds = make_folds(store.table, config.cv)
    text_dim = None if isinstance(store.encoder, TrainableTokens) else store.encoder.dim
    return TrainingInputs(store, folds, text_dim)


def prepare_fold(inputs: TrainingInputs, fold: int, augment: AugmentConfig, seed: int = 0) -> FoldData:
    """Fold ``fold``'s train (augmented), val and test data for training seed ``seed``: what run,
    sweep and train all train on (the augmentation draws from ``augment.seed + seed``)."""
    if not 0 <= fold < len(inputs.folds):
        raise VamerError(f"--fold {fold}: the --cv spelling has {len(inputs.folds)} fold(s)")
    return inputs.store.fold_inputs(inputs.folds[fold], augment.model_copy(update={"seed": augment.seed + seed}))


def fold_summaries(config: RunConfig) -> list[str]:
    """``vamer features``: build the preset's cached features (those ``vamer run`` with the preset
    reads), and say what was computed, cached and skipped, then each fold's sizes and class counts
    (before and after augmentation, drawn with ``config.seed``); the leakage check runs on every fold."""
    preset, result = config.preset, config.dataset.load(read_bio=False)
    store = FeatureStore.build(result.utterances, result.classes, preset.audio_features, preset.text, config.cache)
    audio = store.stats["audio"]
    lines = [
        f"preset {preset.name}: audio features: {audio['computed']} computed, {audio['cached']} from the cache, "
        f"{audio['skipped']} skipped, {audio['cropped_to_max_frames']} cropped, {audio['seconds']:.1f} s; "
        f"{store.stats['empty_text']} utterances with empty text"
        + (
            f"; {len(store.upstream)} with {preset.audio_features.upstream} encoder states"
            if preset.audio_features.upstream
            else ""
        )
    ]
    lines += [f"  skipped {row.utt_id}: {row.reason} ({row.detail})" for row in store.skipped.itertuples()]
    augment = config.augment.model_copy(update={"seed": config.seed})
    for fold in make_folds(store.table, config.cv):
        data = store.fold_inputs(fold, augment)
        lines += [
            f"fold {fold.index} [{fold.protocol}]: train {len(data.train)}, val {len(data.val)}, "
            f"test {len(data.test)}; leakage check passed",
            data.class_counts.to_markdown(index=False),
        ]
    return lines


@contextmanager
def throwaway_folder() -> Iterator[Path]:
    """Where a DDP rank other than 0 writes what rank 0 alone keeps."""
    with tempfile.TemporaryDirectory(prefix="vamer-rank-") as folder:
        yield Path(folder)

"""``vamer train``: one stage of the method alone on one fold, into ``OUT/STAGE`` (checkpoints best
and last, logs, ``config.yaml``); ``--resume`` continues it from its ``last.ckpt``."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vamer.commands.config import RunConfig
from vamer.commands.folds import prepare_fold, training_inputs
from vamer.data.table import LoadResult
from vamer.errors import VamerError
from vamer.fileio import output_lock
from vamer.recipe import FoldTask, train_single_stage
from vamer.training.stages import is_global_zero


@dataclass(frozen=True)
class StageChoice:
    """Which stage trains on which fold of ``--cv``; fusion starts from the ``arousal`` and
    ``valence`` checkpoints given (an encoder without one trains in fusion)."""

    stage: Literal["arousal", "valence", "fusion"]
    fold: int = 0
    arousal: Path | None = None
    valence: Path | None = None


def train_stage(
    config: RunConfig, choice: StageChoice, out: Path, resume: bool = False, result: LoadResult | None = None
) -> dict[str, Any]:
    """``vamer train``: ``choice.stage`` alone on its fold with training seed ``config.seed``
    (:func:`vamer.recipe.train_single_stage`).  The stage's folder is locked while it trains (a
    second ``vamer train`` of the same stage into the same folder is refused at once, or the two
    would interleave their metrics and checkpoints) and gets the run's ``config.yaml``."""
    stage_folder = Path(out) / choice.stage
    with output_lock(stage_folder) if is_global_zero() else nullcontext():
        if not resume and stage_folder.exists() and any(stage_folder.iterdir()):
            raise VamerError(
                f"{stage_folder} already holds a trained {choice.stage} stage; pass --resume to continue it, "
                "or choose another --out"
            )
        result = result or config.dataset.load(read_bio=False)
        inputs = training_inputs(config, result)
        data = prepare_fold(inputs, choice.fold, config.augment, config.seed)
        task = FoldTask(
            data,
            config.preset,
            result.classes,
            Path(out),
            config.seed,
            inputs.text_dim,
            config.imbalance,
            config.progress,
            config.trainer,
            resume,
        )
        outcome = train_single_stage(task, choice.stage, choice.arousal, choice.valence)
        if is_global_zero():
            config.record().write(stage_folder)
    return outcome

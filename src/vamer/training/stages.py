"""Running one training stage with Lightning: checkpoints (best and last), early stopping, the
ExponentialLR schedule, CSV and TensorBoard logs, seeding, resume, and any Lightning strategy
(``ddp`` across processes or nodes included)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from vamer.models.presets import StageTraining

# Lightning's banner lines (no GPU/TPU, logger tips) say nothing useful on a CPU run.
logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
# Lightning 2.6 under torch 2.13 warns about its own use of a deprecated pytree API, at every fit
# and test: a dependency's message the user can do nothing about.
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")

MONITOR = {"arousal": ("val_rmse", "min"), "valence": ("val_rmse", "min"), "fusion": ("val_macro_f1", "max")}


def monitored(stage: str, training: StageTraining) -> tuple[str, str]:
    """The validation quantity that picks the checkpoint and stops training, and its direction."""
    if stage == "fusion" and training.monitor == "loss":
        return "val_loss", "min"
    return MONITOR[stage]


@dataclass
class StageResult:
    stage: str
    best_checkpoint: str
    last_checkpoint: str
    best_score: float | None
    epochs: int
    log_dir: str


def fit_stage(stage: str, module: lightning.LightningModule, data: lightning.LightningDataModule, out_dir: Path,
              training: StageTraining, seed: int = 0, resume: bool = False, accelerator: str = "cpu",
              devices: int | str = 1, strategy: str = "auto", num_nodes: int = 1,
              progress: bool = True, validate: bool = True) -> StageResult:
    """Train ``module`` until early stopping or ``training.epochs``; ``resume`` continues from
    ``out_dir/checkpoints/last.ckpt`` after an interruption.  ``validate=False`` trains exactly
    ``training.epochs`` epochs without validation (a refit on train + val): its result is the last
    checkpoint."""
    out_dir = Path(out_dir)
    lightning.seed_everything(seed, workers=True, verbose=False)
    monitor, mode = monitored(stage, training)
    checkpoints = ModelCheckpoint(dirpath=out_dir / "checkpoints", filename="best", monitor=monitor if validate else None,
                                  mode=mode, save_top_k=1, save_last=True)
    callbacks = [checkpoints] + ([EarlyStopping(monitor=monitor, mode=mode, patience=training.patience)]
                                 if validate else [])
    trainer = lightning.Trainer(
        max_epochs=training.epochs, accelerator=accelerator, devices=devices, strategy=strategy, num_nodes=num_nodes,
        callbacks=callbacks, limit_val_batches=None if validate else 0,
        logger=[CSVLogger(out_dir, name="logs", version=""), TensorBoardLogger(out_dir, name="tensorboard", version="")],
        deterministic="warn", enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=1,
    )
    last = out_dir / "checkpoints" / "last.ckpt"
    with warnings.catch_warnings():
        # Frozen encoders stay in eval mode on purpose (their dropout and batch-norm statistics).
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume and last.is_file() else None)
    best = checkpoints.best_model_score
    return StageResult(stage, checkpoints.best_model_path or str(last), str(last),
                       None if best is None else float(best), trainer.current_epoch, str(out_dir / "logs"))

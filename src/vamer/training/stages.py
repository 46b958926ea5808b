"""Running one training stage with Lightning: checkpoints (best and last), early stopping, the
learning-rate schedule the module configures (ExponentialLR per epoch, or one-cycle per step), CSV
and TensorBoard logs, a plain line per epoch in a log, seeding, resume, and any Lightning accelerator,
device count, strategy (``ddp`` across processes or nodes included) and precision.

The device settings travel as one :class:`~vamer.training.devices.TrainerOptions` from the
command line to every stage; :func:`tester` makes a test-only Trainer on the same devices.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from vamer.errors import VamerError
from vamer.training.config import StageTraining
from vamer.training.devices import TrainerOptions

# Lightning's warning that a checkpoint or log folder already holds files: meant, when resuming.
FOLDER_NOT_EMPTY = ".*directory .* exists and is not empty.*"


def quiet_lightning() -> None:
    """Keep Lightning's noise out of the user's terminal, once a stage runs (not when this module is
    imported: importing vamer changes no global setting).  Its banner lines (no GPU/TPU, logger
    tips) say nothing useful on a CPU run, and Lightning 2.6 under torch 2.13 warns about its own use
    of a deprecated pytree API at every fit and test: a dependency's message the user can do
    nothing about."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")


def global_rank() -> int:
    """This process's rank in a distributed run (0 when alone).

    Under ``--strategy ddp`` Lightning starts the other processes by running the same command again
    (and torchrun or SLURM start them all); each knows its rank from the launcher's environment,
    which Lightning reads, before any process group exists.
    """
    return int(getattr(rank_zero_only, "rank", 0))


def is_global_zero() -> bool:
    """True in the process that writes outputs: the only one, or rank 0 of a distributed run."""
    return global_rank() == 0


def tester(trainer: TrainerOptions = TrainerOptions()) -> lightning.Trainer:
    """A Trainer that only tests, on the same devices as training (its metrics are pooled over ranks)."""
    quiet_lightning()
    return lightning.Trainer(
        **trainer.trainer_args(), logger=False, enable_progress_bar=False, enable_model_summary=False
    )


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


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint's contents, read as data only (``torch.load(weights_only=True)``): tensors,
    numbers, strings and containers.  A checkpoint is a pickle, and a pickle can name any function to
    call while it is read; one handed over by someone else (``vamer train fusion --arousal CKPT``)
    must not run code here, so anything else in it is refused with a reason."""
    import pickle

    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise VamerError(f"{path}: no such checkpoint") from None
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise VamerError(
            f"{path}: refused, it holds more than weights, and vamer reads checkpoints as data only "
            f"(torch says: {first})"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise VamerError(f"{path}: not a readable checkpoint ({error})") from None
    if not isinstance(checkpoint, dict):
        raise VamerError(f"{path}: not a vamer checkpoint (it holds a {type(checkpoint).__name__}, not a dict)")
    return checkpoint


def logged_before(metrics_csv: Path, epochs_done: int) -> list[dict]:
    """The rows of a stage's ``metrics.csv`` for the epochs a resumed checkpoint holds (``epoch <
    epochs_done``), as Lightning's CSV writer takes them: a row logged in the epoch a kill cut short
    is logged again when that epoch runs again."""
    import pandas as pd

    if not metrics_csv.is_file():
        return []
    try:
        frame = pd.read_csv(metrics_csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return []  # a log cut off mid-write: the curves restart, training does not depend on them
    if "epoch" not in frame:
        return []
    rows = frame[frame["epoch"] < epochs_done].to_dict("records")
    return [{key: value for key, value in row.items() if not pd.isna(value)} for row in rows]


RESUMED_KEYS = ("epoch", "global_step", "state_dict", "optimizer_states", "loops", "callbacks")


def epochs_done(checkpoint: dict, last: Path) -> int:
    """How many epochs a stage's ``last.ckpt`` (``checkpoint``, read from ``last``) holds whole
    (Lightning's own count of finished epochs, which is what resuming continues after)."""
    missing = [key for key in RESUMED_KEYS if key not in checkpoint]
    if not missing and not isinstance(checkpoint["callbacks"], dict):
        missing = ["callbacks (as a mapping)"]
    if missing:
        raise VamerError(
            f"--resume: {last} is not a checkpoint of a stage in training (it lacks "
            f"{', '.join(missing)}); train again without --resume"
        )
    try:
        return int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError, ValueError):
        raise VamerError(
            f"--resume: {last} does not say how many epochs it holds; train again without --resume"
        ) from None


def relocate(checkpoint: dict, last: Path, folder: Path) -> None:
    """Point the checkpoint callbacks' state in ``checkpoint`` (read from ``last``) at ``folder``,
    and write it back to ``last``, when the stage was moved since it was written.  Lightning keeps
    the best score only when the folder is unchanged, so after a move "best" was recomputed over
    the new epochs alone (and overwrote the true best)."""
    here = os.path.realpath(folder)
    changed = False
    for state in checkpoint["callbacks"].values():
        before = state.get("dirpath") if isinstance(state, dict) else None
        if not isinstance(before, str) or before == here:
            continue

        def moved(path):
            return os.path.join(here, os.path.relpath(path, before)) if isinstance(path, str) and path else path

        state["dirpath"] = here
        for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
            state[key] = moved(state.get(key))
        if isinstance(state.get("best_k_models"), dict):
            state["best_k_models"] = {moved(path): score for path, score in state["best_k_models"].items()}
        changed = True
    if changed:
        scratch = last.with_name(last.name + ".relocating")
        torch.save(checkpoint, scratch)
        os.replace(scratch, last)


def checkpoint_damage(path: Path) -> str | None:
    """What is wrong with the checkpoint file at ``path`` as a file (None: it is whole): a torch
    checkpoint is a zip archive, so a cut-off one, or one whose bytes changed, shows."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        return f"is not a whole checkpoint ({error}); it was cut off, perhaps by a kill while it was written"
    return None if damaged is None else f"is damaged (its entry {damaged} fails its checksum)"


def check_resumable(last: Path) -> None:
    """Refuse to resume from a checkpoint that is not there or not whole, rather than start from
    scratch without a word (a missing one) or fail with an internal error (a truncated one)."""
    if not last.is_file():
        raise VamerError(
            f"--resume: {last} does not exist, so there is nothing to resume; train without --resume "
            "(or into another --out)"
        )
    damage = checkpoint_damage(last)
    if damage is not None:
        raise VamerError(f"--resume: {last} {damage}: train again without --resume")


class EpochLines(lightning.Callback):
    """A stage's progress in a log: a plain line for its first epoch, then at most one every
    ``every_s`` seconds, and one when training ends (epoch, its losses and validation metrics)."""

    def __init__(self, stage: str, every_s: float = 10.0) -> None:
        self.stage, self.every_s = stage, every_s
        self._last = float("-inf")

    def _say(self, trainer: lightning.Trainer, ended: bool = False) -> None:
        shown = {
            name: float(value)
            for name, value in trainer.callback_metrics.items()
            if name.startswith(("train_loss", "val_")) and value.numel() == 1
        }
        figures = ", ".join(f"{name} {value:.4g}" for name, value in sorted(shown.items()))
        what = "ended after" if ended else "epoch"
        print(
            f"{self.stage}: {what} {trainer.current_epoch + (0 if ended else 1)} of {trainer.max_epochs}"
            + (f": {figures}" if figures else ""),
            file=sys.stderr,
            flush=True,
        )
        self._last = time.monotonic()

    def on_train_epoch_end(self, trainer: lightning.Trainer, module: lightning.LightningModule) -> None:
        if trainer.is_global_zero and time.monotonic() - self._last >= self.every_s:
            self._say(trainer)

    def on_train_end(self, trainer: lightning.Trainer, module: lightning.LightningModule) -> None:
        if trainer.is_global_zero:
            self._say(trainer, ended=True)


@dataclass(frozen=True)
class FitOptions:
    """How :func:`fit_stage` runs, beyond the stage's own :class:`StageTraining`: the seed, whether it
    continues from ``last.ckpt`` (``resume``), reports progress, validates (``validate=False``
    trains exactly ``training.epochs`` epochs without validation, a refit on train + val, and its
    result is the last checkpoint), extra Lightning ``callbacks``, and the devices (``trainer``)."""

    seed: int = 0
    resume: bool = False
    progress: bool = True
    validate: bool = True
    callbacks: tuple[lightning.Callback, ...] = ()
    trainer: TrainerOptions = TrainerOptions()


def fit_stage(
    stage: str,
    module: lightning.LightningModule,
    data: lightning.LightningDataModule,
    out_dir: Path,
    training: StageTraining,
    options: FitOptions = FitOptions(),
) -> StageResult:
    """Train ``module`` until early stopping or ``training.epochs`` into ``out_dir`` (checkpoints,
    logs); ``options`` say how (:class:`FitOptions`): with ``resume`` it continues from
    ``out_dir/checkpoints/last.ckpt`` after an interruption."""
    resume, validate, trainer = options.resume, options.validate, options.trainer
    quiet_lightning()
    out_dir = Path(out_dir)
    if trainer.device() == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs
    lightning.seed_everything(options.seed, workers=True, verbose=False)
    monitor, mode = monitored(stage, training)
    checkpoints = ModelCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename="best",
        monitor=monitor if validate else None,
        mode=mode,
        save_top_k=1,
        save_last=not validate,
    )
    # With validation, last.ckpt is its own callback, written at the end of every training epoch
    # whether validation improved or not: what --resume continues from.  It keeps its "top 1" of no
    # metric, which is the newest; save_last would write only when a checkpoint is saved, so with
    # save_top_k=0 it wrote once, at the very end.  Without validation, the one callback saves every
    # epoch anyway.
    latest = (
        [
            ModelCheckpoint(
                dirpath=out_dir / "checkpoints",
                filename="last",
                monitor=None,
                save_top_k=1,
                save_on_train_epoch_end=True,
                enable_version_counter=False,
            )
        ]
        if validate
        else []
    )
    # A terminal gets Lightning's bar; a log gets plain lines (the bar's carriage returns piled up
    # into lines of several KB there).
    bar = options.progress and sys.stderr.isatty()
    lines = [EpochLines(stage)] if options.progress and not bar else []
    callbacks = [checkpoints, *latest, *lines, *options.callbacks] + (
        [EarlyStopping(monitor=monitor, mode=mode, patience=training.patience)] if validate else []
    )
    last = out_dir / "checkpoints" / "last.ckpt"
    earlier = []
    if resume:
        check_resumable(last)
        checkpoint = read_checkpoint(last)
        earlier = logged_before(out_dir / "logs" / "metrics.csv", epochs_done(checkpoint, last))
        if is_global_zero():
            relocate(checkpoint, last, out_dir / "checkpoints")
    csv_log = CSVLogger(out_dir, name="logs", version="")
    if earlier and is_global_zero():
        # Lightning's CSV writer deletes the file it finds (and warns that it will); the epochs the
        # checkpoint holds go back in.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=FOLDER_NOT_EMPTY)
            csv_log.experiment.metrics.extend(earlier)
    loggers = [csv_log] + ([TensorBoardLogger(out_dir, name="tensorboard", version="")] if trainer.tensorboard else [])
    fitter = lightning.Trainer(
        max_epochs=min(training.epochs, trainer.max_epochs or training.epochs),
        **trainer.trainer_args(),
        callbacks=callbacks,
        limit_train_batches=trainer.max_batches,
        limit_val_batches=(trainer.max_batches if validate else 0),
        logger=loggers,
        deterministic="warn",
        enable_progress_bar=bar,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    # Lightning keeps whatever mode the module is in when fit starts; a module left in eval mode
    # (by encoding, testing, or loading) would train without dropout.  Frozen encoders stay in
    # eval mode through FusionClassifier.train.
    module.train()
    with warnings.catch_warnings():
        # Frozen encoders stay in eval mode on purpose (their dropout and batch-norm statistics).
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        if resume:  # the earlier rows are put back (logged_before); the folders are meant to hold files
            warnings.filterwarnings("ignore", message=FOLDER_NOT_EMPTY)
        fitter.fit(module, datamodule=data, ckpt_path=str(last) if resume else None, weights_only=True)
    best = checkpoints.best_model_score
    return StageResult(
        stage,
        checkpoints.best_model_path or str(last),
        str(last),
        None if best is None else float(best),
        fitter.current_epoch,
        str(out_dir / "logs"),
    )

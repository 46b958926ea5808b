"""What a fold of ``vamer run`` has finished, kept beside its checkpoints so that a killed run
continues from it instead of training it again.

A fold's folder (``runs/fold{k}-seed{s}/``) gets one JSON entry per finished step, written
atomically once the step is whole:

    journal/pretraining.json   which encoders were pretrained, their test metrics, the notes, and
                               the checkpoint each regressor's weights come from
    journal/{variant}.json     the variant's test predictions, its notes and the checkpoint its
                               weights come from (the validated one or the refit)

Each entry names the run it belongs to (``signature``: a hash of everything that decides the
results), so an entry of a run started with other settings is never used.  An entry that cannot be
read, or whose checkpoint is gone, is treated as not finished: that step trains again.  The weights
are read from the checkpoints (as data only, :func:`vamer.training.stages.read_checkpoint`); a step
resumed this way gives the predictions and weights an uninterrupted run gives, because every step
is seeded on its own.

>>> import tempfile
>>> journal = FoldJournal(Path(tempfile.mkdtemp()), "run-a")
>>> journal.save("fusion", {"predictions": [], "notes": [], "checkpoint": None})
>>> journal.load("fusion")["notes"], FoldJournal(journal.folder, "run-b").load("fusion")
([], None)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from vamer.errors import VamerError
from vamer.fileio import write_json_atomic
from vamer.training.stages import read_checkpoint

log = logging.getLogger("vamer.journal")


class FoldJournal:
    """The finished steps of one fold and seed, in ``folder / "journal"``."""

    def __init__(self, folder: Path, signature: str) -> None:
        self.folder = Path(folder)
        self.signature = signature

    def _path(self, step: str) -> Path:
        return self.folder / "journal" / f"{step}.json"

    def load(self, step: str) -> dict[str, Any] | None:
        """The entry of ``step`` when it finished in this run, else ``None``."""
        path = self._path(step)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            log.warning("vamer: %s is unreadable (%s); that step trains again", path, error)
            return None
        if not isinstance(entry, dict) or entry.get("signature") != self.signature:
            return None
        checkpoints = [value for key, value in entry.items() if key.endswith("checkpoint") and value]
        checkpoints += [value for value in entry.get("checkpoints", {}).values() if value]
        missing = [name for name in checkpoints if not (self.folder / name).is_file()]
        if missing:
            log.warning("vamer: %s names %s, which is gone; that step trains again", path, missing[0])
            return None
        return entry

    def save(self, step: str, entry: dict[str, Any]) -> None:
        write_json_atomic(self._path(step), {**entry, "signature": self.signature})

    def relative(self, checkpoint: str | Path | None) -> str | None:
        """A checkpoint's path relative to the fold folder (the run folder is renamed when it finishes)."""
        return None if checkpoint is None else Path(checkpoint).resolve().relative_to(self.folder.resolve()).as_posix()

    def restore(self, model: torch.nn.Module, checkpoint: str) -> None:
        """Load the weights a finished step kept (``model.*`` of a Lightning checkpoint) into ``model``."""
        state = read_checkpoint(self.folder / checkpoint)["state_dict"]
        prefix = "model."
        try:
            model.load_state_dict({key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)})
        except RuntimeError as error:
            raise VamerError(f"{self.folder / checkpoint}: does not fit the model of this run ({error}); "
                             "remove the unfinished run's folder to start again") from None

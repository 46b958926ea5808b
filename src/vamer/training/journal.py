"""What a fold of ``vamer run`` has finished, kept beside its checkpoints so that a killed run
continues from it instead of training it again.

A fold's folder (``runs/fold{k}-seed{s}/``) gets one JSON entry per finished step, written
atomically once the step is whole:

    journal/pretraining.json   which encoders were pretrained, their test metrics, the notes, and
                               the checkpoint each regressor's weights come from
    journal/{variant}.json     the variant's test predictions, its notes and the checkpoint its
                               weights come from (the validated one or the refit)

Each entry names the run it belongs to (``signature``: a hash of everything that decides the
results), so an entry of a run started with other settings is never used.  An entry is checked
before it is used: its shape, its predictions against the fold's test split (one row per test
utterance, its true class, a known predicted class, a probability per class) and its checkpoints
(there, whole, and fitting the model).  An entry that fails any check is treated as not finished:
that step trains again, and a warning says why.  The weights
are read from the checkpoints (as data only, :func:`vamer.training.stages.read_checkpoint`); a step
resumed this way gives the predictions and weights an uninterrupted run gives, because every step
is seeded on its own.

>>> import tempfile
>>> journal = FoldJournal(Path(tempfile.mkdtemp()), "run-a")
>>> journal.save("pretraining", {"checkpoints": {"arousal": None, "valence": None}, "regression": {},
...                               "notes": ["nothing rated"]})
>>> test = {"u1": "sad"}
>>> journal.load("pretraining", test)["notes"], FoldJournal(journal.folder, "run-b").load("pretraining", test)
(['nothing rated'], None)
"""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from vamer.errors import VamerError
from vamer.fileio import write_json_atomic
from vamer.training.stages import checkpoint_damage, read_checkpoint

log = logging.getLogger("vamer.journal")


Rows = list[dict[str, Any]]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    signature: str
    notes: list[str]


class VariantEntry(_Entry):
    """A fusion variant's entry: its test predictions and the checkpoint of its weights."""

    predictions: Rows
    checkpoint: str
    without_context: Rows | None = None
    members: dict[str, Rows] = {}
    probe_weight: float | None = None


class PretrainingEntry(_Entry):
    """Pretraining's entry: each regressor's checkpoint (None: not pretrained) and test metrics."""

    checkpoints: dict[Literal["arousal", "valence"], str | None]
    regression: dict[str, dict[str, float | int | None]]


def rows_problem(rows: Rows, test: dict[str, str], classes: list[str]) -> str | None:
    """What makes ``rows`` not the predictions of the test split ``test`` (utt_id -> true class)
    over ``classes``; None when they are."""
    if not rows:
        return "holds no predictions"
    ids = [row.get("utt_id") for row in rows]
    if not all(isinstance(utt_id, str) for utt_id in ids):
        return "has rows without an utt_id"
    if len(set(ids)) != len(ids) or set(ids) != set(test):
        foreign, missing = len(set(ids) - set(test)), len(set(test) - set(ids))
        return (
            f"predicts other utterances than the fold's test split ({foreign} not in it, {missing} of it "
            f"missing, {len(ids) - len(set(ids))} repeated)"
        )
    for row in rows:
        if row.get("true") != test[row["utt_id"]]:
            return f"gives {row['utt_id']} the true class {row.get('true')!r}, not {test[row['utt_id']]!r}"
        if row.get("pred") not in classes:
            return f"predicts {row.get('pred')!r} for {row['utt_id']}, which is not a class of this run"
        chances = [row.get(f"p_{name}") for name in classes]
        if not all(isinstance(p, (int, float)) and math.isfinite(p) and 0 <= p <= 1 for p in chances):
            return f"lacks a probability in [0, 1] per class for {row['utt_id']}"
    return None


def entry_problem(step: str, entry: dict[str, Any], test: dict[str, str], classes: list[str]) -> str | None:
    """What makes a journal ``entry`` of ``step`` unusable for this fold (None: usable)."""
    kind = PretrainingEntry if step == "pretraining" else VariantEntry
    try:
        checked = kind.model_validate(entry)
    except ValidationError as error:
        first = error.errors()[0]
        return f"is not a {step} entry ({'.'.join(map(str, first['loc']))}: {first['msg']})"
    if isinstance(checked, VariantEntry):
        named = {
            "predictions": checked.predictions,
            "without_context": checked.without_context,
            **{f"members.{name}": rows for name, rows in checked.members.items()},
        }
        for name, rows in named.items():
            problem = rows_problem(rows, test, classes) if rows is not None else None
            if problem:
                return f"{name} {problem}"
    return None


class FoldJournal:
    """The finished steps of one fold and seed, in ``folder / "journal"``."""

    def __init__(self, folder: Path, signature: str) -> None:
        self.folder = Path(folder)
        self.signature = signature

    def _path(self, step: str) -> Path:
        return self.folder / "journal" / f"{step}.json"

    def load(self, step: str, test: dict[str, str], classes: list[str] | None = None) -> dict[str, Any] | None:
        """The entry of ``step`` when it finished in this run and holds up against the fold's test
        split ``test`` (utt_id -> true class) and ``classes``, else ``None`` (with a warning when
        an entry was there but fails a check)."""
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
        problem = entry_problem(step, entry, test, classes or sorted({*test.values()}))
        if problem is None:
            checkpoints = [entry["checkpoint"]] if step != "pretraining" else list(entry["checkpoints"].values())
            for name in filter(None, checkpoints):
                problem = self._checkpoint_problem(name)
                if problem:
                    break
        if problem:
            log.warning("vamer: %s %s; that step trains again", path, problem)
            return None
        return entry

    def _checkpoint_problem(self, name: str) -> str | None:
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            return f"names {name}, outside the fold's folder"
        if not path.is_file():
            return f"names {name}, which is gone"
        damage = checkpoint_damage(path)
        return f"names {name}, which {damage}" if damage else None

    def save(self, step: str, entry: dict[str, Any]) -> None:
        write_json_atomic(self._path(step), {**entry, "signature": self.signature})

    def relative(self, checkpoint: str | Path | None) -> str | None:
        """A checkpoint's path relative to the fold folder (the run folder is renamed when it finishes)."""
        return None if checkpoint is None else Path(checkpoint).resolve().relative_to(self.folder.resolve()).as_posix()

    def weights(self, model: torch.nn.Module, checkpoint: str) -> dict[str, torch.Tensor] | None:
        """The weights a finished step kept (``model.*`` of a Lightning checkpoint), checked to fit
        ``model`` (on a copy: ``model`` is left as it is); None, with a warning, when they cannot
        be read or do not fit, and the step trains again."""
        prefix = "model."
        try:
            state = read_checkpoint(self.folder / checkpoint).get("state_dict")
            if not isinstance(state, dict):
                raise VamerError("it holds no state_dict")
            weights = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            copy.deepcopy(model).load_state_dict(weights)
        except (VamerError, RuntimeError, TypeError) as error:
            log.warning(
                "vamer: %s does not give this run's model its weights (%s); that step trains again",
                self.folder / checkpoint,
                str(error).splitlines()[0],
            )
            return None
        return weights

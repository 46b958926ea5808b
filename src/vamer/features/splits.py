"""Evaluation splits, one spelling for every command, and the leakage check that guards them.

``--cv`` spellings:

- ``session:K`` / ``speaker:K``: K-fold over sessions or speakers (scikit-learn GroupKFold) — the
  default family, speaker-independent (a KEMDy session holds one pair of speakers).
- ``sessions:Sess33,Sess34,...``: one fold whose test split is exactly those sessions.
- ``random:0.2``: the method's random utterance split, stratified, named
  ``random (speaker-dependent)`` everywhere: the same speaker sits on both sides.

A validation split is always carved from the training groups (never from test), whole groups
stratified by class (scikit-learn's StratifiedGroupKFold).

>>> import pandas as pd
>>> table = pd.DataFrame({"utt_id": [f"u{i}" for i in range(12)], "emotion": ["a", "b"] * 6,
...                       "session": [f"S{i // 2}" for i in range(12)], "speaker": [f"p{i}" for i in range(12)]})
>>> folds = make_folds(table, "session:3", seed=0)
>>> [len(f.test) for f in folds], folds[0].protocol
([4, 4, 4], 'session 3-fold (speaker-independent)')
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, train_test_split

from vamer.errors import VamerError

SPEC = re.compile(r"^(?P<kind>session|speaker|sessions|random):(?P<value>.+)$")
VALIDATION_SHARE = 0.15


class LeakageError(VamerError):
    """A speaker, or an utterance and its augmented copy, on both sides of a split."""


@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    protocol: str
    speaker_independent: bool


def _groups(table: pd.DataFrame, column: str) -> pd.Series:
    groups = table[column]
    if groups.isna().any():
        raise VamerError(
            f"{int(groups.isna().sum())} utterances have no {column}; a {column} split needs it "
            "(give the manifest a column, or use --cv random:0.2)"
        )
    return groups.astype(str)


def _validation(
    table: pd.DataFrame, train_index: np.ndarray, groups: pd.Series | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation part out of the training rows, by group when groups are given."""
    if groups is None:
        labels = table["emotion"].to_numpy()[train_index]
        stratify = labels if pd.Series(labels).value_counts().min() >= 2 else None
        fit, val = train_test_split(train_index, test_size=VALIDATION_SHARE, random_state=seed, stratify=stratify)
        return np.sort(fit), np.sort(val)
    train_groups = groups.to_numpy()[train_index]
    count = len(set(train_groups))
    if count < 2:
        raise VamerError("the training split has one group only; no group is left for validation")
    # Whole groups, chosen so that each class keeps about its share in both parts (a validation
    # split without a minority class cannot select a model for it).
    splitter = StratifiedGroupKFold(n_splits=min(count, round(1 / VALIDATION_SHARE)), shuffle=True, random_state=seed)
    labels = table["emotion"].to_numpy()[train_index]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        fit, val = next(splitter.split(train_index, labels, groups=train_groups))
    return np.sort(train_index[fit]), np.sort(train_index[val])


FOLD_SEED = 0  # every command's folds: they never depend on a training seed, so `train --fold k` is `run`'s fold k


def make_folds(table: pd.DataFrame, spec: str, seed: int = FOLD_SEED) -> list[Fold]:
    """Folds of ``table`` (columns utt_id, emotion, session, speaker) for one ``--cv`` spelling.
    Every command uses the default ``seed``, so they all see the same folds of the same data."""
    match = SPEC.match(spec.strip())
    if not match:
        raise VamerError(f"bad --cv {spec!r}; use session:K, speaker:K, sessions:S1,S2,... or random:FRACTION")
    kind, value = match["kind"], match["value"]
    ids = table["utt_id"].astype(str).to_numpy()
    folds: list[Fold] = []
    if kind in ("session", "speaker"):
        try:
            k = int(value)
        except ValueError:
            raise VamerError(f"bad fold count {value!r} in --cv {spec}") from None
        groups = _groups(table, kind)
        if not 2 <= k <= groups.nunique():
            raise VamerError(f"--cv {spec}: need 2 <= K <= {groups.nunique()} (the number of {kind}s)")
        splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        for index, (train, test) in enumerate(splitter.split(ids, groups=groups)):
            fit, val = _validation(table, train, groups, seed + index)
            folds.append(
                Fold(
                    index,
                    tuple(ids[fit]),
                    tuple(ids[val]),
                    tuple(ids[test]),
                    f"{kind} {k}-fold (speaker-independent)",
                    True,
                )
            )
    elif kind == "sessions":
        chosen = {s.strip() for s in value.split(",") if s.strip()}
        groups = _groups(table, "session")
        unknown = chosen - set(groups)
        if unknown:
            raise VamerError(f"--cv {spec}: no such session(s) {', '.join(sorted(unknown))}")
        test = np.nonzero(groups.isin(chosen).to_numpy())[0]
        train = np.nonzero(~groups.isin(chosen).to_numpy())[0]
        fit, val = _validation(table, train, groups, seed)
        folds.append(
            Fold(
                0,
                tuple(ids[fit]),
                tuple(ids[val]),
                tuple(ids[test]),
                f"fixed test sessions {', '.join(sorted(chosen))} (speaker-independent)",
                True,
            )
        )
    else:
        try:
            share = float(value)
        except ValueError:
            raise VamerError(f"bad test share {value!r} in --cv {spec}") from None
        if not 0 < share < 1:
            raise VamerError(f"--cv {spec}: the test share must be between 0 and 1")
        labels = table["emotion"].to_numpy()
        stratify = labels if pd.Series(labels).value_counts().min() >= 2 else None
        train, test = train_test_split(np.arange(len(ids)), test_size=share, random_state=seed, stratify=stratify)
        fit, val = _validation(table, np.sort(train), None, seed)
        folds.append(
            Fold(
                0,
                tuple(ids[fit]),
                tuple(ids[val]),
                tuple(ids[np.sort(test)]),
                f"random {share:g} (speaker-dependent)",
                False,
            )
        )
    for fold in folds:
        check_leakage(fold, table)
    return folds


def check_leakage(fold: Fold, table: pd.DataFrame, copies: pd.DataFrame | None = None) -> None:
    """Fail loudly when a speaker (for speaker-independent folds) or any augmented copy of an
    utterance sits on more than one side, or an utterance is in two splits."""
    sides = {"train": set(fold.train), "val": set(fold.val), "test": set(fold.test)}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = sides[a] & sides[b]
        if shared:
            raise LeakageError(f"fold {fold.index}: {len(shared)} utterances in both {a} and {b}, e.g. {min(shared)}")
    if copies is not None and len(copies):
        for side in ("val", "test"):
            leaked = set(copies["aug_of"]) & sides[side]
            if leaked:
                raise LeakageError(
                    f"fold {fold.index}: augmented copies of {len(leaked)} {side} utterances, "
                    f"e.g. {min(leaked)}; augmentation must touch the training split only"
                )
        outside = set(copies["aug_of"]) - sides["train"]
        if outside:
            raise LeakageError(f"fold {fold.index}: copies of utterances outside train, e.g. {min(outside)}")
    if fold.speaker_independent and "speaker" in table and table["speaker"].notna().all():
        speaker = dict(zip(table["utt_id"].astype(str), table["speaker"].astype(str)))
        spoken = {side: {speaker[u] for u in ids if u in speaker} for side, ids in sides.items()}
        for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
            shared = spoken[a] & spoken[b]
            if shared:
                raise LeakageError(
                    f"fold {fold.index}: speaker(s) {', '.join(sorted(shared)[:5])} in both {a} "
                    f"and {b} of a split that claims to be speaker-independent"
                )

"""Saved speaker profiles: a speaker's statistics, enrolled once from a few clips, kept in one SQLite
file (no server to run), so that single clips of that speaker can later be predicted with speaker
context (:mod:`vamer.features.speakers`).

A profile is personal data about a voice.  It stays in the file you name (default
``~/.local/share/vamer/speakers.sqlite``, created readable by its owner only); vamer never sends it
anywhere, and only lists names, clip counts and dates, never the statistics.  Profiles belong to an
*owner*: the service passes a hash of the request's API key, so one key can neither list, use nor
delete another key's profiles.  The command line's owner is the empty string.

Writes are transactions in SQLite's write-ahead log with full sync: a process killed during an
enrolment leaves the old profile or the new one, never a mixture.  Every profile is read back
checked: the model it was enrolled for (its audio encoder and normalisation), a SHA-256 of its
statistics, and their shapes.

>>> import tempfile, numpy as np
>>> from vamer.features.speakers import SpeakerStatistics
>>> store = ProfileStore(Path(tempfile.mkdtemp()) / "speakers.sqlite", model="ge2e|abc|z")
>>> stats = SpeakerStatistics.of(np.ones((5, 2, 3), np.float32), np.zeros((5, 0), np.float32))
>>> store.save("", "anna", stats)
>>> [p["speaker"] for p in store.list("")], store.load("", "anna", (2, 3), 0).clips
(['anna'], 5)
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from vamer.errors import VamerError
from vamer.features.speakers import SpeakerStatistics
from vamer.inference.intake import PredictionError

SPEAKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCHEMA = 1


def default_profiles_path() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return Path(os.environ.get("VAMER_PROFILES") or base / "vamer" / "speakers.sqlite")


def check_speaker_id(speaker: str) -> str:
    """``speaker`` when it is a valid id, else a :class:`PredictionError` (``bad_speaker``).

    >>> check_speaker_id("User001F")
    'User001F'
    """
    if not isinstance(speaker, str) or not SPEAKER_ID.fullmatch(speaker):
        shown = repr(speaker)[:80]
        raise PredictionError(
            "bad_speaker",
            f"speaker id {shown} is not valid: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return speaker


def owner_of(api_key: str | None) -> str:
    """The owner a service request's profiles belong to: a hash of its API key ('' without one)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest() if api_key else ""


def model_identity(audio_encoder: dict[str, str] | None, functionals: str, speaker_norm: str) -> str:
    """What a profile's statistics are statistics of: the bundle's audio encoder (with its weights'
    hash), its clip functionals, and how it normalises."""
    encoder = audio_encoder["identity"] if audio_encoder else "none"
    return f"{encoder}|functionals={functionals}|norm={speaker_norm}"


class ProfileStore:
    """Speaker profiles in the SQLite file ``path`` for one model (:func:`model_identity`)."""

    def __init__(self, path: str | Path, model: str) -> None:
        self.path, self.model = Path(path), model
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # Personal data: readable by its owner only, from the first byte.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            with self._connection() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS profiles (owner TEXT NOT NULL, speaker TEXT NOT NULL, "
                    "model TEXT NOT NULL, clips INTEGER NOT NULL, updated REAL NOT NULL, "
                    "statistics BLOB NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (owner, speaker))"
                )
                db.execute(f"PRAGMA user_version = {SCHEMA}")
        except (OSError, sqlite3.Error) as error:
            raise VamerError(
                f"speaker profiles {self.path}: cannot open or create the database ({error}); "
                "name another file with --profiles"
            ) from None

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            found = db.execute("PRAGMA user_version").fetchone()[0]
            if found not in (0, SCHEMA):
                raise VamerError(f"speaker profiles {self.path}: schema {found}, this vamer reads {SCHEMA}")
            yield db
        except sqlite3.DatabaseError as error:
            raise VamerError(f"speaker profiles {self.path}: not a readable profile database ({error})") from None
        finally:
            db.close()

    def save(self, owner: str, speaker: str, statistics: SpeakerStatistics) -> None:
        """Create or replace ``owner``'s profile ``speaker``, in one transaction."""
        check_speaker_id(speaker)
        data = statistics.to_bytes()
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT OR REPLACE INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                (owner, speaker, self.model, statistics.clips, time.time(), data, hashlib.sha256(data).hexdigest()),
            )
            db.execute("COMMIT")

    def load(
        self, owner: str, speaker: str, upstream_shape: tuple[int, int], functionals_dim: int
    ) -> SpeakerStatistics:
        """``owner``'s profile ``speaker``, checked; ``unknown_speaker`` when there is none."""
        check_speaker_id(speaker)
        with self._connection() as db:
            row = db.execute(
                "SELECT model, statistics, sha256 FROM profiles WHERE owner = ? AND speaker = ?", (owner, speaker)
            ).fetchone()
        if row is None:
            raise PredictionError("unknown_speaker", f"no speaker profile {speaker!r}; enrol it first")
        model, data, digest = row
        if model != self.model:
            raise PredictionError(
                "unknown_speaker",
                f"speaker profile {speaker!r} was enrolled for another model's "
                "audio inputs; enrol it again with this bundle",
            )
        if hashlib.sha256(data).hexdigest() != digest:
            raise VamerError(
                f"speaker profiles {self.path}: profile {speaker!r} is damaged (its SHA-256 does not "
                "match); enrol it again"
            )
        return SpeakerStatistics.from_bytes(
            data, upstream_shape, functionals_dim, where=f"speaker profiles {self.path}: profile {speaker!r}"
        )

    def list(self, owner: str) -> list[dict[str, Any]]:
        """``owner``'s profiles: name, clip count, when enrolled, and whether this model can use it."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT speaker, clips, updated, model FROM profiles WHERE owner = ? ORDER BY speaker", (owner,)
            ).fetchall()
        return [
            {
                "speaker": speaker,
                "clips": clips,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(updated)),
                "usable": model == self.model,
            }
            for speaker, clips, updated, model in rows
        ]

    def delete(self, owner: str, speaker: str) -> bool:
        """Remove ``owner``'s profile ``speaker``; whether there was one."""
        check_speaker_id(speaker)
        with self._connection() as db:
            gone = db.execute("DELETE FROM profiles WHERE owner = ? AND speaker = ?", (owner, speaker)).rowcount
        return gone > 0

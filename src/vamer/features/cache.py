"""On-disk cache of computed features: one ``.npy`` per (content, settings) key.

A key is a SHA-256 of the input's bytes and of the settings that shape the output, so a changed
file or a changed setting misses the cache by construction.  Entries are written atomically, and
each ends with the SHA-256 of the ``.npy`` bytes before it.  Nothing read back is trusted: an entry
whose checksum fails (a truncated copy, a zeroed block, an edited header), that holds a non-finite
value, or whose shape or dtype is not what the caller expects is deleted, reported on stderr (a
warning naming the file and what was wrong) and treated as a miss, so it is recomputed.

>>> import tempfile, numpy as np
>>> cache = FeatureCache(tempfile.mkdtemp())
>>> key = cache.key(b"bytes", {"n_mels": 128})
>>> cache.get("audio", key) is None
True
>>> cache.put("audio", key, np.ones((2, 3), dtype=np.float16))
True
>>> cache.get("audio", key, shape=(None, 3), dtype=np.float16).shape
(2, 3)
>>> cache.get("audio", key, shape=(None, 4)) is None   # not what the caller reads: recomputed
True
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vamer.errors import VamerError
from vamer.fileio import follow_umask

BUILT_KIND = "built"
CHECKSUM_BYTES = 32  # the SHA-256 that ends every entry

log = logging.getLogger("vamer.cache")


class DamagedEntry(ValueError):
    """A cache entry that must not be used, and why."""


def entry_bytes(array: np.ndarray) -> bytes:
    """An entry as written: the ``.npy`` serialisation of ``array``, then its SHA-256."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    payload = buffer.getvalue()
    return payload + hashlib.sha256(payload).digest()


def read_entry(raw: bytes, shape: tuple[int | None, ...] | None = None, dtype=None) -> np.ndarray:
    """The array of an entry's bytes, checked: its checksum, then (when given) its number of
    dimensions, the sizes of ``shape`` that are not ``None`` and ``dtype``, then finiteness.  Raises
    :class:`DamagedEntry` saying what failed."""
    payload, checksum = raw[:-CHECKSUM_BYTES], raw[-CHECKSUM_BYTES:]
    if len(raw) <= CHECKSUM_BYTES or hashlib.sha256(payload).digest() != checksum:
        raise DamagedEntry("its checksum does not match its content")
    try:
        array = np.load(io.BytesIO(payload), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DamagedEntry(f"not a readable array ({error})") from None
    if shape is not None and (
        array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape))
    ):
        wanted = "[" + ", ".join("*" if size is None else str(size) for size in shape) + "]"
        raise DamagedEntry(f"shape {list(array.shape)}, where {wanted} is read")
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise DamagedEntry(f"dtype {array.dtype}, where {np.dtype(dtype)} is read")
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise DamagedEntry("it holds NaN or infinite values")
    return array


class FeatureCache:
    """Entries under ``root``.  ``report`` receives each warning about an entry (damaged,
    unreadable, not a file); by default it is logged.  A worker process collects them instead and
    hands them to the parent, whose log reaches the user's terminal (a worker's does not)."""

    def __init__(self, root: str | Path, report: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.report = report or (lambda message: log.warning("%s", message))

    @staticmethod
    def key(content: bytes, settings: dict[str, Any]) -> str:
        digest = hashlib.sha256(content)
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
        return digest.hexdigest()

    def path(self, kind: str, key: str) -> Path:
        # ".v2": entries with their checksum; vamer 0.3's plain .npy files are never read (not
        # reported as damaged either), they are simply missed.
        return self.root / kind / key[:2] / f"{key}.v2.npy"

    def get(self, kind: str, key: str, shape: tuple[int | None, ...] | None = None, dtype=None) -> np.ndarray | None:
        """The entry ``key`` of ``kind``, or ``None`` when there is none or it is damaged (see
        :func:`read_entry`; a damaged one is deleted and reported, so the caller recomputes it)."""
        path = self.path(kind, key)
        if path.is_symlink() or (path.exists() and not path.is_file()):
            self.report(
                f"vamer: feature cache entry {path} is not a file (a folder or a link stands there); "
                "it is left alone, and the features are computed without caching them"
            )
            return None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            self.report(f"vamer: feature cache entry {path} could not be read ({error}); recomputing it")
            return None
        try:
            return read_entry(raw, shape, dtype)
        except DamagedEntry as damage:
            self.report(f"vamer: feature cache entry {path} is damaged ({damage}); deleted and recomputed")
            path.unlink(missing_ok=True)
            return None

    def put(self, kind: str, key: str, array: np.ndarray) -> bool:
        """Store ``array`` as the entry ``key`` of ``kind`` (whole or not at all); whether it was.
        Where something other than a file stands at its place (see :meth:`get`), nothing is."""
        path = self.path(kind, key)
        if path.is_symlink() or (path.exists() and not path.is_file()):
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self.report(f"vamer: the feature cache cannot hold {path} ({error}); computed without caching")
            return False
        fd, temporary = tempfile.mkstemp(prefix=".entry.", suffix=".npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(entry_bytes(array))
            follow_umask(Path(temporary))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return True

    # -- one process builds, the others wait (distributed training) ------------------------------

    def mark_built(self, token: str) -> None:
        """Say that every feature of ``token`` (a corpus and its settings) is in the cache."""
        self.put(BUILT_KIND, token, np.zeros(0, dtype=np.int8))

    def wait_built(self, token: str, timeout_s: float = 6 * 3600, poll_s: float = 2.0) -> None:
        """Block until another process has marked ``token`` built (see :meth:`mark_built`).

        Ranks other than 0 of a distributed run call this before reading the cache, so features
        are computed once, by rank 0, and shared through the cache (on a file system every node
        sees); a rank that waits in vain says why.
        """
        deadline = time.monotonic() + timeout_s
        while self.get(BUILT_KIND, token) is None:
            if time.monotonic() > deadline:
                raise VamerError(
                    f"waited {timeout_s:g} s for rank 0 to build the features in {self.root}; is "
                    "--cache on a file system every node sees?"
                )
            time.sleep(poll_s)

"""On-disk cache of computed features: one ``.npy`` per (content, settings) key.

A key is a SHA-256 of the input's bytes and of the settings that shape the output, so a changed
file or a changed setting misses the cache by construction.  Entries are written atomically; an
entry that cannot be read (a crash mid-write on another filesystem, a truncated copy) is deleted
and reported as a miss, so it is recomputed.

>>> import tempfile, numpy as np
>>> cache = FeatureCache(tempfile.mkdtemp())
>>> key = cache.key(b"bytes", {"n_mels": 128})
>>> cache.get("audio", key) is None
True
>>> cache.put("audio", key, np.ones((2, 3), dtype=np.float16))
>>> cache.get("audio", key).shape
(2, 3)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vamer.errors import VamerError

BUILT_KIND = "built"


class FeatureCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(content: bytes, settings: dict[str, Any]) -> str:
        digest = hashlib.sha256(content)
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
        return digest.hexdigest()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.npy"

    def get(self, kind: str, key: str) -> np.ndarray | None:
        path = self.path(kind, key)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)
            return None

    def put(self, kind: str, key: str, array: np.ndarray) -> None:
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".entry.", suffix=".npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

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
                raise VamerError(f"waited {timeout_s:g} s for rank 0 to build the features in {self.root}; is "
                                 "--cache on a file system every node sees?")
            time.sleep(poll_s)

"""Atomic output and overwrite protection.

Every file vamer writes appears whole or not at all: it is written to a temporary name beside the
target and then renamed.  Existing user files are never replaced unless the caller says so.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
>>> write_text_atomic(target, "{}")
>>> target.read_text()
'{}'
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from vamer.errors import VamerError


def refuse_overwrite(path: Path, force: bool) -> None:
    """Raise unless ``path`` is free or the user allowed replacing it with ``force``."""
    if path.exists() and not force:
        raise VamerError(f"{path} already exists; pass --force to replace it")


def check_replaceable(folder: Path, force: bool, marker: str, kind: str) -> None:
    """Allow writing ``folder`` only if it is free, empty, or (with ``force``) an earlier ``kind``.

    An earlier output is recognised by its ``marker`` file; any other folder is never replaced.
    """
    folder = Path(folder)
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return
    if not (folder / marker).is_file():
        raise VamerError(f"{folder} already exists and is not a {kind}, so it is left alone")
    if not force:
        raise VamerError(f"{folder} already exists; pass --force to replace it")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def atomic_directory(target: Path, replace: bool = False) -> Iterator[Path]:
    """Yield a scratch folder that becomes ``target`` only when the block finishes without error.

    With ``replace`` an existing ``target`` is swapped out; the caller decides whether that is
    allowed (see :func:`refuse_overwrite`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield scratch
        if target.exists():
            if not replace:
                raise VamerError(f"{target} already exists; pass --force to replace it")
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, retired / "old")
            os.replace(scratch, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(scratch, target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)

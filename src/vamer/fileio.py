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


OUTPUT_MARKER = ".vamer-output.json"
"""File in every output folder vamer writes: the command that wrote it and the files it wrote."""


def refuse_overwrite(path: Path, force: bool) -> None:
    """Raise unless ``path`` can take a new file: free, or an existing file the user allows replacing.

    A folder, or a path under an existing file, is refused even with ``force``, before any work.
    """
    path = Path(path)
    if path.is_dir():
        raise VamerError(f"{path} is a folder; give the path of a file to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise VamerError(f"{path} cannot be written: {parent} is a file, not a folder")
            break
    if (path.exists() or path.is_symlink()) and not force:
        raise VamerError(f"{path} already exists; pass --force to replace it")


def read_output_marker(folder: Path) -> dict | None:
    """The marker of a vamer output folder, or ``None`` when ``folder`` has no readable one."""
    try:
        marker = json.loads((Path(folder) / OUTPUT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("command"), str) \
            or not isinstance(marker.get("files"), list):
        return None
    return marker


def _entries(folder: Path) -> set[str]:
    """Every file, link and folder under ``folder`` as a relative POSIX path (its own marker excluded)."""
    found = set()
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if relative != OUTPUT_MARKER:
            found.add(relative)
    return found


def record_written(path: Path) -> None:
    """Add ``path``, a file vamer just wrote, to the marker of the vamer output folder holding it.

    ``vamer export --onnx RUN/bundle/model.onnx`` thus stays part of the run, and a later
    ``vamer run --force`` may replace it; a file written elsewhere is left as it is.
    """
    path = Path(path).absolute()
    for folder in path.parents:
        marker = read_output_marker(folder)
        if marker is not None:
            relative = path.relative_to(folder)
            entries = {parent.as_posix() for parent in relative.parents if parent != Path(".")}
            marker["files"] = sorted(set(marker["files"]) | entries | {relative.as_posix()})
            write_json_atomic(folder / OUTPUT_MARKER, marker)
            return


def check_replaceable(folder: Path, force: bool, command: str) -> None:
    """Allow writing ``folder`` only if it is free, empty, or (with ``force``) an earlier ``command`` output.

    An earlier output is recognised by its marker, which names the command that wrote it; a folder
    written by another command, or by no vamer command, is never replaced.  Nor is one that holds
    files the earlier command did not write: ``--force`` never deletes what the user put there.
    """
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return
    if not folder.is_dir():
        raise VamerError(f"{folder} exists and is not a folder, so it is left alone; choose another path")
    if not any(folder.iterdir()):
        return
    marker = read_output_marker(folder)
    if marker is None:
        raise VamerError(f"{folder} already exists and was not written by vamer, so it is left alone; "
                         "choose another path")
    if marker["command"] != command:
        raise VamerError(f"{folder} was written by `vamer {marker['command']}`, not `vamer {command}`, so it is "
                         "left alone; choose another path")
    if not force:
        raise VamerError(f"{folder} already exists (an earlier `vamer {command}`); pass --force to replace it")
    foreign = sorted(_entries(folder) - {str(name) for name in marker["files"]})
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise VamerError(f"{folder} holds files vamer did not write ({shown}); --force never deletes them, "
                         "so move them away or choose another path")


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
def atomic_directory(target: Path, command: str, force: bool = False) -> Iterator[Path]:
    """Yield a scratch folder that becomes ``target`` only when the block finishes without error.

    The finished folder gets a marker naming ``command`` and every file in it, so that a later
    ``--force`` can tell it apart from the user's folders (see :func:`check_replaceable`, which is
    checked again just before an existing ``target`` is swapped out).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with atomic_directory(target, "demo") as scratch:
    ...     _ = (scratch / "a.txt").write_text("a")
    >>> read_output_marker(target)["files"]
    ['a.txt']
    """
    import vamer

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield scratch
        (scratch / OUTPUT_MARKER).write_text(json.dumps(
            {"command": command, "vamer_version": vamer.__version__, "files": sorted(_entries(scratch))},
            indent=2) + "\n",
            encoding="utf-8")
        check_replaceable(target, force, command)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, retired / "old")
            os.replace(scratch, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(scratch, target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)

"""Atomic output, overwrite protection, output locks and vamer's own scratch.

Every file vamer writes appears whole or not at all: it is written to a temporary name beside the
target and then renamed.  Existing user files are never replaced unless the caller says so.  An
output folder is locked (``.NAME.lock`` beside it, an advisory ``flock`` the kernel drops when the
process dies) from the start of the command that writes it, so a second command writing the same
path stops at once.  Scratch that a killed vamer left (``.NAME.*.partial``, ``.NAME.*.old``,
``.NAME.*.tmp``, ``.NAME.export``, unheld ``.NAME.lock``) is recognised by its name, reported on
stderr and removed by the next command that takes the lock; a resumable command's scratch
(``.NAME.partial``) is kept for it.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
>>> write_text_atomic(target, "{}")
>>> target.read_text()
'{}'
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from vamer.errors import VamerError

OUTPUT_MARKER = ".vamer-output.json"
"""File in every output folder vamer writes: the command that wrote it and the files it wrote."""

log = logging.getLogger("vamer.fileio")


def default_cache_dir() -> Path:
    """Where vamer keeps what it derives once per machine: ``$VAMER_CACHE``, else ``~/.cache/vamer``."""
    return Path(os.environ.get("VAMER_CACHE", Path.home() / ".cache" / "vamer"))


def writable_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot hold files vamer writes (None: it can), found without creating it: an
    existing folder gets a file written in it and removed; a missing one needs its nearest
    existing parent to be a folder vamer may write in."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            return f"{folder} is a file, not a folder"
        try:
            tempfile.NamedTemporaryFile(dir=folder, prefix=".vamer-probe-").close()
        except OSError as error:
            return f"{folder} is not a folder vamer can write in ({error.strerror or error})"
        return None
    parent = folder.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"{folder} cannot be created: {parent} is not a folder vamer can write in"
    return None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# vamer's own scratch names: what an interrupted write leaves beside (or inside) an output.
_SCRATCH = re.compile(
    r"^\.(?:.+\.(?:[^./]+\.partial|[^./]+\.old|[^./]+\.tmp|export|lock)|export-[^/]+|entry\.[^/]+\.npy)$"
)


def is_scratch_name(name: str) -> bool:
    """Whether a file or folder name is one vamer gives its scratch.

    >>> [is_scratch_name(n) for n in (".run.k2j4.partial", ".model.onnx.export", ".export-x1", "notes.txt")]
    [True, True, True, False]
    """
    return bool(_SCRATCH.match(name))


def _held(lock: Path) -> bool:
    """Whether a live process holds the lock file ``lock``."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_stale_scratch(target: Path, keep: tuple[Path, ...] = ()) -> list[Path]:
    """Remove the scratch a killed vamer left for ``target`` (its lock must be held by the caller),
    except ``keep``; each removal is reported on stderr.  Returns what was removed."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    prefix = f".{target.name}."
    lock = lock_path(target)
    for path in sorted(target.parent.iterdir()):
        if not path.name.startswith(prefix) or path == lock or path in keep or not is_scratch_name(path.name):
            continue
        _remove(path)
        removed.append(path)
        log.warning("vamer: removed %s, scratch an interrupted vamer left for %s", path, target)
    return removed


def lock_path(target: Path) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.lock"


@contextmanager
def output_lock(target: Path) -> Iterator[None]:
    """Hold the lock of the output ``target`` for the block: a second vamer writing the same path
    is refused at once, naming the holder (the lock is the kernel's, so a killed holder leaves no
    lock behind; its file is then stale scratch)."""
    target = Path(target)
    lock = lock_path(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            # Never through a link: a link planted as the lock would have its target overwritten.
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as error:
            if lock.is_symlink():
                raise VamerError(
                    f"{lock}, the lock of {target}, is a symbolic link; vamer never writes through "
                    "one: remove it, or choose another output path"
                ) from None
            raise VamerError(f"cannot create the lock {lock} of {target}: {error.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise VamerError(
                f"{lock}, the lock of {target}, is not a regular file; remove it, or choose another output path"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 500).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise VamerError(
                f"{target} is being written by another vamer ({holder}); wait for it to finish, or "
                "choose another output path"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and our lock: take the new one
    os.ftruncate(fd, 0)
    os.write(
        fd,
        f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}: "
        f"{' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))}".encode(),
    )
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


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
    if (
        not isinstance(marker, dict)
        or not isinstance(marker.get("command"), str)
        or not isinstance(marker.get("files"), list)
    ):
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


def _inner_scratch(folder: Path) -> list[Path]:
    """vamer scratch inside an output folder (an export killed mid-write left ``bundle/.model.onnx.export``)."""
    return sorted((path for path in folder.rglob(".*") if is_scratch_name(path.name)), key=lambda p: len(p.parts))


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
        raise VamerError(
            f"{folder} already exists and was not written by vamer, so it is left alone; choose another path"
        )
    if marker["command"] != command:
        raise VamerError(
            f"{folder} was written by `vamer {marker['command']}`, not `vamer {command}`, so it is "
            "left alone; choose another path"
        )
    if not force:
        raise VamerError(f"{folder} already exists (an earlier `vamer {command}`); pass --force to replace it")
    scratch = _inner_scratch(folder)
    busy = [path for path in scratch if path.name.endswith(".lock") and _held(path)]
    if busy:
        raise VamerError(f"{busy[0]} is held: another vamer is writing inside {folder}; wait for it to finish")
    for path in scratch:
        if path.exists() or path.is_symlink():
            _remove(path)
            log.warning("vamer: removed %s, scratch an interrupted vamer left", path)
    foreign = sorted(_entries(folder) - {str(name) for name in marker["files"]})
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise VamerError(
            f"{folder} holds files vamer did not write ({shown}); --force never deletes them, "
            "so move them away or choose another path"
        )


def current_umask() -> int:
    """The process's umask, read from ``/proc/self/status`` where Linux gives it: setting it and
    putting it back (the only other way to read it) would briefly change it for every thread, and
    a service writes files from several."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: Path, folder: bool = False) -> None:
    """Give a file (0666) or folder (0777) made by ``tempfile`` the permissions the umask gives any
    other new file: ``tempfile`` makes them 0600 and 0700, so a bundle or a result written through
    it could not be read by a service user or a colleague."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        follow_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    write_bytes_atomic(path, text.encode(encoding))


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def atomic_directory(target: Path, command: str, force: bool = False, resumable: bool = False) -> Iterator[Path]:
    """Yield a scratch folder that becomes ``target`` only when the block finishes without error.

    ``target``'s lock (:func:`output_lock`) is held from the start, and stale scratch of earlier,
    killed commands is removed (:func:`clean_stale_scratch`).  The finished folder gets a marker
    naming ``command`` and every file in it, so that a later ``--force`` can tell it apart from the
    user's folders (see :func:`check_replaceable`, which is checked again just before an existing
    ``target`` is swapped out).  A ``resumable`` command's scratch is ``.NAME.partial``: kept when
    the block fails (so a rerun continues from what it holds, see :func:`resumable_scratch`), and
    handed back as it is when it exists.

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
    with output_lock(target):
        kept = resumable_scratch(target)
        clean_stale_scratch(target, keep=(kept,) if resumable else ())
        if resumable:
            scratch = kept
            if scratch.is_symlink() or (scratch.exists() and not scratch.is_dir()):
                raise VamerError(
                    f"{scratch}, where this command keeps its unfinished work, is a symbolic link or "
                    "a file; vamer never writes through one: remove it, or choose another output path"
                )
            scratch.mkdir(exist_ok=True)
        else:
            scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
            follow_umask(scratch, folder=True)
        finished = False
        try:
            yield scratch
            (scratch / OUTPUT_MARKER).write_text(
                json.dumps(
                    {"command": command, "vamer_version": vamer.__version__, "files": sorted(_entries(scratch))},
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
            check_replaceable(target, force, command)
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
                os.replace(target, retired / "old")
                os.replace(scratch, target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(scratch, target)
            finished = True
        finally:
            if resumable and not finished and scratch.exists():
                log.warning(
                    "vamer: the finished part of this work is kept in %s; run the same command again "
                    "to continue from it",
                    scratch,
                )
            elif scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)


def resumable_scratch(target: Path) -> Path:
    """Where a resumable command keeps its unfinished work for ``target``."""
    target = Path(target)
    return target.parent / f".{target.name}.partial"

"""``load``: any supported dataset path -> :class:`~vamer.data.table.LoadResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

from vamer.config import validated
from vamer.data.bio import read_bio
from vamer.data.config import DataConfig
from vamer.data.kemdy import (
    KEMDY19_ANNOTATION,
    KEMDY20_ANNOTATION,
    annotation_files,
    is_demo,
    read_kemdy19,
    read_kemdy20,
)
from vamer.data.labels import DEFAULT_CLASSES
from vamer.data.manifest import MANIFEST_SUFFIXES, read_manifest
from vamer.data.table import LoadResult
from vamer.errors import NotADatasetError

Format = Literal["auto", "kemdy20", "kemdy19", "manifest"]
FORMATS: tuple[str, ...] = ("auto", "kemdy20", "kemdy19", "manifest")


def _folder_format(folder: Path) -> str | None:
    annotation = folder / "annotation"
    if not annotation.is_dir():
        return None
    names = [path.name for path in annotation_files(folder)]
    if any(KEMDY20_ANNOTATION.match(name) for name in names):
        return "kemdy20"
    if any(KEMDY19_ANNOTATION.match(name) for name in names):
        return "kemdy19"
    return None


def detect_format(path: Path) -> tuple[Path, str]:
    """Find the dataset root and format of ``path``; a folder holding one dataset folder works too."""
    if path.is_file():
        if path.suffix.lower() in MANIFEST_SUFFIXES:
            return path, "manifest"
        raise NotADatasetError(f"{path}: not a dataset (a manifest is .csv or .parquet)")
    found = _folder_format(path)
    if found:
        return path, found
    # Users often point at the folder the archive unpacked into (e.g. holding KEMDy20_v1_1/).
    children = [(child, _folder_format(child)) for child in sorted(path.iterdir()) if child.is_dir()]
    datasets = [(child, fmt) for child, fmt in children if fmt]
    if len(datasets) == 1:
        return datasets[0]
    if len(datasets) > 1:
        names = ", ".join(child.name for child, _ in datasets)
        raise NotADatasetError(f"{path}: holds several datasets ({names}); name one of them")
    raise NotADatasetError(
        f"{path}: not a dataset (expected annotation/SessNN_eval.csv for KEMDy20, "
        "annotation/SessionNN_F_res.csv for KEMDy19, or a .csv/.parquet manifest)"
    )


def class_set(utterances: pd.DataFrame, chosen: list[str] | None) -> list[str]:
    """The class set in force: the one chosen (or the format's default), or every label a manifest
    holds, most frequent first.  Training refuses a class without examples (see
    :func:`vamer.features.store.check_classes`); inspection commands show its zero."""
    if chosen is not None:
        return list(chosen)
    counts = utterances["emotion"].value_counts() if len(utterances) else pd.Series(dtype=int)
    return sorted(counts.index, key=lambda label: (-int(counts[label]), label))


def load(
    path: str | Path,
    format: Format = "auto",
    config: DataConfig | None = None,
    **overrides,
) -> LoadResult:
    """Read a KEMDy20/KEMDy19 folder or a manifest into the utterance table.

    ``overrides`` are :class:`~vamer.data.config.DataConfig` fields (``classes``, ``multi_label``,
    ``read_bio``) applied on top of ``config``.

    >>> import tempfile
    >>> load(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    vamer.errors.NotADatasetError: ...: not a dataset (expected annotation/SessNN_eval.csv for KEMDy20, ...
    """
    config = validated(DataConfig, {**(config or DataConfig()).model_dump(), **overrides})
    path = Path(path).expanduser()
    if not path.exists():
        raise NotADatasetError(f"{path}: no such file or folder")
    if format not in FORMATS:
        raise NotADatasetError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    if format == "auto":
        root, format = detect_format(path)
    else:
        root = path
    if config.classes is None and format != "manifest":
        config = config.model_copy(update={"classes": list(DEFAULT_CLASSES)})
    readers = {"kemdy20": read_kemdy20, "kemdy19": read_kemdy19, "manifest": read_manifest}
    if format == "manifest" and root.is_dir():
        raise NotADatasetError(f"{root}: is a folder; a manifest is a .csv or .parquet file")
    if format != "manifest" and not root.is_dir():
        raise NotADatasetError(f"{root}: a {format} dataset is a folder")
    ledger = readers[format](root, config)
    utterances, skipped = ledger.frames()
    classes = class_set(utterances, config.classes)
    bio = bio_issues = None
    if config.read_bio and format != "manifest":
        bio, bio_issues = read_bio(root)
    dataset = utterances["dataset"].iloc[0] if len(utterances) else format
    return LoadResult(
        utterances=utterances,
        skipped=skipped,
        dataset=dataset,
        format=format,
        root=str(root.resolve()),
        classes=classes,
        bio=bio,
        bio_issues=bio_issues if bio_issues is not None else pd.DataFrame(columns=["file", "signal", "rows", "reason"]),
        notes=ledger.notes,
        source_rows=ledger.source_rows,
        synthetic=format != "manifest" and is_demo(root),
    )

"""What produced an output folder, written down whole, and how a command replays it.

Every ``run``, ``sweep``, ``train`` and ``baseline`` writes ``config.yaml`` into its output: the
command, every option's value as the command used it (given or defaulted; paths absolute), the
preset after every override (``--text-encoder``, ``--audio-encoder``, a YAML preset file), and the
versions of vamer, Python and the libraries that decide the numbers.  ``--config FILE`` on the same
command replays it: the file's values stand wherever the command line says nothing, and an option
given on the command line wins (as Hydra-style tools do).  Where the output goes (``--out``,
``--force``, ``--resume``) is never taken from the file.

>>> from vamer.presets import load_preset
>>> record = ResolvedConfig(command="run", options={"cv": "session:5"}, preset=load_preset("tiny"))
>>> ResolvedConfig.model_validate(yaml.safe_load(record.to_yaml())).options["cv"]
'session:5'
"""

from __future__ import annotations

import logging
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import vamer
from vamer.errors import VamerError
from vamer.presets import Preset

log = logging.getLogger("vamer.replay")

CONFIG_FILE = "config.yaml"
NOT_REPLAYED = ("out", "force", "resume", "config")  # where the output goes, not what it holds
# The packages whose versions decide a run's numbers, recorded beside it.
RECORDED_PACKAGES = (
    "torch",
    "lightning",
    "numpy",
    "scikit-learn",
    "librosa",
    "transformers",
    "onnxruntime",
    "resemblyzer",
    "opensmile",
)


def package_versions() -> dict[str, str]:
    versions = {"vamer": vamer.__version__, "python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


class ResolvedConfig(BaseModel):
    """One output folder's ``config.yaml``."""

    model_config = ConfigDict(extra="forbid")

    command: str
    options: dict[str, Any]
    preset: Preset
    versions: dict[str, str] = Field(default_factory=package_versions)

    def to_yaml(self) -> str:
        head = (
            f"# What produced this folder (vamer {self.versions.get('vamer', '?')}).  Replay it with\n"
            f"#   vamer {self.command} --config config.yaml --out NEW_FOLDER\n"
            "# Options given on the command line override the values below.\n"
        )
        return head + yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    def write(self, folder: Path) -> None:
        from vamer.fileio import write_text_atomic

        write_text_atomic(Path(folder) / CONFIG_FILE, self.to_yaml())


def read_config(path: Path, command: str) -> ResolvedConfig:
    """A ``config.yaml``, validated by the same models that wrote it; one written by another command
    is refused (its options mean other things)."""
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise VamerError(f"--config {path}: cannot be read ({error})") from None
    except yaml.YAMLError as error:
        raise VamerError(f"--config {path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise VamerError(f"--config {path}: not a vamer config.yaml (no mapping at its top)")
    try:
        record = ResolvedConfig.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        raise VamerError(f"--config {path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    if record.command != command:
        raise VamerError(f"--config {path} was written by `vamer {record.command}`; replay it with that command")
    written_by = record.versions.get("vamer") if "versions" in values else None
    if written_by != vamer.__version__:
        log.warning(
            "vamer: --config %s was written by %s; this is vamer %s, whose defaults may differ: the replay "
            "may not give that run's numbers",
            path,
            f"vamer {written_by}" if written_by else "an unknown vamer (it records no versions)",
            vamer.__version__,
        )
    return record


def as_recorded(value: Any) -> Any:
    """An option's value as ``config.yaml`` keeps it: paths absolute, enums by value."""
    if isinstance(value, Path):
        return str(value.absolute())
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return value.value
    if isinstance(value, (list, tuple)):
        return [as_recorded(item) for item in value]
    if isinstance(value, dict):
        return {key: as_recorded(item) for key, item in value.items()}
    return value

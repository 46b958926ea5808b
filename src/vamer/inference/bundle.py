"""The model bundle: one folder holding everything ``predict`` needs.

    bundle/
      bundle.json          vamer version, preset (architecture + feature settings), classes,
                           text encoder spec, training protocol, which fold/seed the weights are
      arousal.safetensors  audio encoder + arousal head
      valence.safetensors  text encoder + valence head
      fusion.safetensors   the fusion classifier (its encoders included)
      vocabulary.json      piece -> id, for the trainable text encoder only
      metrics.json         the run's metrics
      model.onnx           optional: `vamer export --onnx bundle/model.onnx` (the ONNX engine's default)

``bundle.json`` also says which regressors were really trained (``regressors``): a dataset without
ratings trains fusion only, and its bundle then predicts no arousal or valence.  With a frozen speech
encoder (``ge2e`` or ``hf:``), ``audio_encoder`` names it with a hash of its weights; a bundle is
refused where another encoder is installed under that name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import vamer
from vamer.config import validated
from vamer.errors import VamerError
from vamer.features.upstream import load_upstream
from vamer.presets import Preset

MANIFEST = "bundle.json"
BUNDLE_FORMAT = 1
WEIGHTS = ("arousal", "valence", "fusion")


def write_bundle(folder: Path, preset: Preset, classes: list[str], models: dict[str, torch.nn.Module],
                 text_dim: int | None, vocabulary: dict[int, int] | None, metrics: dict[str, Any],
                 provenance: dict[str, Any], regressors: dict[str, bool] | None = None) -> None:
    """Write the bundle into ``folder``, which must not exist yet or be empty (``vamer run`` writes
    it inside the run's atomic scratch folder).  A non-empty folder is refused, never overwritten."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise VamerError(f"{folder}: a bundle is written into a new or empty folder; this one holds files")
    folder.mkdir(parents=True, exist_ok=True)
    for name in WEIGHTS:
        state = {key: value.detach().cpu().contiguous().clone() for key, value in models[name].state_dict().items()}
        save_file(state, str(folder / f"{name}.safetensors"), metadata={"vamer": vamer.__version__})
    manifest = {
        "bundle_format": BUNDLE_FORMAT, "vamer_version": vamer.__version__, "classes": classes, "label_map": {c: i for i, c in enumerate(classes)},
        "preset": preset.model_dump(mode="json"), "text_encoder": preset.text.encoder, "text_dim": text_dim,
        "preprocessing": {"audio": preset.audio_features.model_dump(mode="json"),
                          "text": preset.text.model_dump(mode="json"),
                          "transcript_cleaning": "vamer.data.transcripts.clean_transcript"},
        "provenance": provenance,
        "regressors": regressors or {"arousal": True, "valence": True},
        "audio_encoder": audio_encoder_identity(preset),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if vocabulary is not None:
        (folder / "vocabulary.json").write_text(json.dumps({str(k): v for k, v in vocabulary.items()}) + "\n",
                                                encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n", encoding="utf-8")


@dataclass
class Bundle:
    """A bundle folder, checked and parsed (weights are read on demand by :meth:`weights`)."""

    folder: Path
    manifest: dict[str, Any]
    preset: Preset
    classes: list[str]
    text_dim: int | None
    vocabulary: dict[int, int] | None
    regressors: dict[str, bool]

    def weights(self, name: str) -> dict[str, torch.Tensor]:
        path = self.folder / f"{name}.safetensors"
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise VamerError(f"bundle {self.folder}: {path.name} is not readable safetensors ({error})") from None


def audio_encoder_identity(preset: Preset) -> dict[str, str] | None:
    """Which frozen speech encoder (name and a hash of its weights) the preset's models read, or None."""
    spec = preset.audio_features.upstream
    return {"spec": spec, "identity": load_upstream(spec).identity} if spec else None


def _minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def read_bundle(folder: str | Path) -> Bundle:
    """Open a bundle and check it completely before anything is built from it.

    Refused, each with a message that says what to do: a path that is not a folder, a missing
    file, an unreadable ``bundle.json``, another bundle format, a bundle of another vamer minor
    version (weights and preprocessing may differ between them), and settings that do not validate.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VamerError(f"bundle {folder}: not a folder (give the bundle/ folder written by `vamer run`)")
    missing = [name for name in (MANIFEST, *(f"{w}.safetensors" for w in WEIGHTS)) if not (folder / name).is_file()]
    if missing:
        raise VamerError(f"bundle {folder}: missing {', '.join(missing)}; copy the whole bundle folder")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VamerError(f"bundle {folder}: {MANIFEST} is not readable JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise VamerError(f"bundle {folder}: {MANIFEST} is not a JSON object")
    if manifest.get("bundle_format") != BUNDLE_FORMAT:
        raise VamerError(f"bundle {folder}: bundle format {manifest.get('bundle_format')!r}, this vamer reads "
                         f"format {BUNDLE_FORMAT}")
    made_by = manifest.get("vamer_version")
    if not isinstance(made_by, str) or not made_by:
        raise VamerError(f"bundle {folder}: {MANIFEST} does not say which vamer wrote it (no vamer_version); it "
                         "was not written by `vamer run`, or was edited: retrain with `vamer run`")
    if _minor(made_by) != _minor(vamer.__version__):
        raise VamerError(f"bundle {folder} was written by vamer {made_by}; this is vamer {vamer.__version__}, "
                         f"which reads bundles of vamer {'.'.join(_minor(vamer.__version__))}.x. Install "
                         f"vamer=={made_by} to use it, or retrain with `vamer run`")
    try:
        preset = validated(Preset, manifest["preset"])
        classes = [str(c) for c in manifest["classes"]]
        text_dim = manifest["text_dim"]
    except KeyError as error:
        raise VamerError(f"bundle {folder}: {MANIFEST} lacks {error}") from None
    vocabulary = None
    if preset.text.encoder == "trainable":
        path = folder / "vocabulary.json"
        if not path.is_file():
            raise VamerError(f"bundle {folder}: missing vocabulary.json (the trainable text encoder needs it)")
        vocabulary = {int(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
    regressors = manifest.get("regressors", {"arousal": True, "valence": True})
    if (not isinstance(regressors, dict) or set(regressors) - {"arousal", "valence"}
            or not all(isinstance(v, bool) for v in regressors.values())):
        # bool("false") is True: a string would switch on a regressor that never trained.
        raise VamerError(f"bundle {folder}: {MANIFEST} 'regressors' must map arousal and valence to true or false, "
                         f"found {regressors!r}")
    if preset.audio_features.upstream:
        recorded, installed = manifest.get("audio_encoder"), audio_encoder_identity(preset)
        if recorded != installed:
            raise VamerError(f"bundle {folder} was trained on the audio encoder {recorded}, but the one installed "
                             f"here is {installed}: its weights differ, so the model would read other features. "
                             "Install the encoder the bundle names, or retrain")
    return Bundle(folder, manifest, preset, classes, text_dim, vocabulary, regressors)

"""The model bundle: one folder holding everything ``predict`` needs.

    bundle/
      bundle.json          vamer version, preset (architecture + feature settings), classes,
                           text encoder spec, training protocol, which fold/seed the weights are
      arousal.safetensors  audio encoder + arousal head
      valence.safetensors  text encoder + valence head
      fusion.safetensors   the fusion classifier (its encoders included)
      vocabulary.json      piece -> id, for the trainable text encoder only
      probe.safetensors    the linear probe averaged with fusion (presets with fusion.probe_ensemble)
      population.safetensors  the training split's statistics of the frozen audio inputs: what a clip
                           without speaker context is normalised with (presets with speaker_norm)
      metrics.json         the run's metrics
      SHA256SUMS           the SHA-256 of every file above (``sha256sum -c SHA256SUMS`` checks it too)
      model.onnx           optional: `vamer export --onnx bundle/model.onnx` (the ONNX engine's default)

``bundle.json`` also says which regressors were really trained (``regressors``): a dataset without
ratings trains fusion only, and its bundle then predicts no arousal or valence.  With a frozen speech
encoder (``ge2e`` or ``hf:``), ``audio_encoder`` names it with a hash of its weights; a bundle is
refused where another encoder is installed under that name.

Nothing in a bundle is trusted unchecked: every file is hashed when the bundle is written and
checked against ``SHA256SUMS`` when it is read, so an edited ``bundle.json`` (reordered classes,
another hop length) or another run's weights file is refused, naming the file; weights that hold
NaN or infinite values are refused too.
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
from vamer.features.speakers import SpeakerStatistics, uses_context
from vamer.features.upstream import load_upstream, upstream_shape
from vamer.fileio import file_sha256, follow_umask
from vamer.presets import Preset, functionals_dim

MANIFEST = "bundle.json"
CHECKSUMS = "SHA256SUMS"
BUNDLE_FORMAT = 1
WEIGHTS = ("arousal", "valence", "fusion")
POPULATION = "population.safetensors"


@dataclass
class BundleContents:
    """What a bundle holds: the preset and the classes, the arousal, valence and fusion ``models``,
    the text encoder's width (``None``: trainable token ids, with their ``vocabulary``), which
    regressors trained (default both), the probe of a probe ensemble, and the population statistics
    of a preset with speaker context."""

    preset: Preset
    classes: list[str]
    models: dict[str, torch.nn.Module]
    text_dim: int | None = None
    vocabulary: dict[int, int] | None = None
    regressors: dict[str, bool] | None = None
    probe: torch.nn.Module | None = None
    population: SpeakerStatistics | None = None


def write_bundle(folder: Path, contents: BundleContents, metrics: dict[str, Any], provenance: dict[str, Any]) -> None:
    """Write the bundle of ``contents`` into ``folder``, which must not exist yet or be empty (``vamer
    run`` writes it inside the run's atomic scratch folder), with the run's ``metrics`` and where
    the weights come from (``provenance``).  A non-empty folder is refused, never overwritten."""
    folder = Path(folder)
    preset, classes, probe, population = contents.preset, contents.classes, contents.probe, contents.population
    models, text_dim, vocabulary, regressors = (
        contents.models,
        contents.text_dim,
        contents.vocabulary,
        contents.regressors,
    )
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise VamerError(f"{folder}: a bundle is written into a new or empty folder; this one holds files")
    folder.mkdir(parents=True, exist_ok=True)
    if preset.fusion.probe_ensemble != (probe is not None):
        raise VamerError("the preset's fusion.probe_ensemble and the probe given to the bundle disagree")
    if uses_context(preset.audio_features.speaker_norm) != (population is not None):
        raise VamerError("the preset's speaker_norm and the population statistics given to the bundle disagree")
    for name, model in (*((w, models[w]) for w in WEIGHTS), *((("probe", probe),) if probe is not None else ())):
        state = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
        save_file(state, str(folder / f"{name}.safetensors"), metadata={"vamer": vamer.__version__})
        # safetensors makes its files 0600: a service running as another user could not read them.
        follow_umask(folder / f"{name}.safetensors")
    if population is not None:
        (folder / POPULATION).write_bytes(population.to_bytes())
    manifest = {
        "bundle_format": BUNDLE_FORMAT,
        "vamer_version": vamer.__version__,
        "classes": classes,
        "label_map": {c: i for i, c in enumerate(classes)},
        "preset": preset.model_dump(mode="json"),
        "text_encoder": preset.text.encoder,
        "text_dim": text_dim,
        "preprocessing": {
            "audio": preset.audio_features.model_dump(mode="json"),
            "text": preset.text.model_dump(mode="json"),
            "transcript_cleaning": "vamer.data.transcripts.clean_transcript",
        },
        "provenance": provenance,
        "regressors": regressors or {"arousal": True, "valence": True},
        "audio_encoder": audio_encoder_identity(preset),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if vocabulary is not None:
        (folder / "vocabulary.json").write_text(
            json.dumps({str(k): v for k, v in vocabulary.items()}) + "\n", encoding="utf-8"
        )
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n", encoding="utf-8")
    write_checksums(folder)


def write_checksums(folder: Path) -> None:
    """``SHA256SUMS`` of every file in ``folder`` (itself excepted), as ``sha256sum -c`` reads it."""
    names = sorted(path.name for path in folder.iterdir() if path.is_file() and path.name != CHECKSUMS)
    (folder / CHECKSUMS).write_text(
        "".join(f"{file_sha256(folder / name)}  {name}\n" for name in names), encoding="utf-8"
    )


def listed_checksums(folder: Path) -> dict[str, str]:
    """``SHA256SUMS`` of a bundle: file name -> SHA-256."""
    path = folder / CHECKSUMS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise VamerError(
            f"bundle {folder}: missing {CHECKSUMS}, so its files cannot be checked; copy the whole "
            "bundle folder, or retrain with `vamer run`"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise VamerError(f"bundle {folder}: {CHECKSUMS} is not readable ({error})") from None
    listed = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name or "/" in name:
            raise VamerError(f"bundle {folder}: {CHECKSUMS} has a line that is not '<sha256>  <file name>': {line!r}")
        listed[name] = digest.lower()
    return listed


def check_files(folder: Path, required: list[str]) -> str:
    """Check every file ``SHA256SUMS`` lists, and that it lists each of ``required``; returns the
    SHA-256 of ``SHA256SUMS`` itself: one hash for the whole bundle (what an ONNX export names)."""
    listed = listed_checksums(folder)
    unlisted = [name for name in required if name not in listed]
    if unlisted:
        raise VamerError(
            f"bundle {folder}: {CHECKSUMS} does not list {', '.join(unlisted)}; the file was added "
            "after the bundle was written: retrain, or copy the original bundle"
        )
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            raise VamerError(f"bundle {folder}: missing {name}; copy the whole bundle folder")
        if file_sha256(path) != digest:
            raise VamerError(
                f"bundle {folder}: {name} was changed after the bundle was written (its SHA-256 is not "
                f"the one {CHECKSUMS} lists): an edited file, or one from another run. Copy the original "
                "bundle, or retrain with `vamer run`"
            )
    return file_sha256(folder / CHECKSUMS)


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
    fingerprint: str = ""  # SHA-256 of SHA256SUMS: the identity of every file of the bundle
    population: SpeakerStatistics | None = None  # with speaker context: the no-context statistics

    def weights(self, name: str) -> dict[str, torch.Tensor]:
        path = self.folder / f"{name}.safetensors"
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise VamerError(f"bundle {self.folder}: {path.name} is not readable safetensors ({error})") from None
        broken = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
        if broken:
            raise VamerError(
                f"bundle {self.folder}: {path.name} holds NaN or infinite weights ({broken[0]}"
                f"{f' and {len(broken) - 1} more' if len(broken) > 1 else ''}); the model would predict "
                "nothing meaningful: retrain"
            )
        return state


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
    version (weights and preprocessing may differ between them), a file whose SHA-256 is not the one
    ``SHA256SUMS`` lists (:func:`check_files`), and settings that do not validate.
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
        raise VamerError(
            f"bundle {folder}: bundle format {manifest.get('bundle_format')!r}, this vamer reads format {BUNDLE_FORMAT}"
        )
    made_by = manifest.get("vamer_version")
    if not isinstance(made_by, str) or not made_by:
        raise VamerError(
            f"bundle {folder}: {MANIFEST} does not say which vamer wrote it (no vamer_version); it "
            "was not written by `vamer run`, or was edited: retrain with `vamer run`"
        )
    if _minor(made_by) != _minor(vamer.__version__):
        raise VamerError(
            f"bundle {folder} was written by vamer {made_by}; this is vamer {vamer.__version__}, "
            f"which reads bundles of vamer {'.'.join(_minor(vamer.__version__))}.x. Install "
            f"vamer=={made_by} to use it, or retrain with `vamer run`"
        )
    try:
        preset = validated(Preset, manifest["preset"])
        classes = [str(c) for c in manifest["classes"]]
        text_dim = manifest["text_dim"]
    except KeyError as error:
        raise VamerError(f"bundle {folder}: {MANIFEST} lacks {error}") from None
    required = [MANIFEST, *(f"{w}.safetensors" for w in WEIGHTS)]
    if (folder / "vocabulary.json").exists():
        required.append("vocabulary.json")
    if preset.fusion.probe_ensemble:
        required.append("probe.safetensors")
    if uses_context(preset.audio_features.speaker_norm):
        required.append(POPULATION)
    for name in required:
        if not (folder / name).is_file():
            raise VamerError(f"bundle {folder}: missing {name}; copy the whole bundle folder")
    fingerprint = check_files(folder, required)
    population = None
    if uses_context(preset.audio_features.speaker_norm):
        upstream = preset.audio_features.upstream
        shape = upstream_shape(upstream) if upstream else (0, 0)
        population = SpeakerStatistics.from_bytes(
            (folder / POPULATION).read_bytes(), shape, functionals_dim(preset), where=f"bundle {folder}: {POPULATION}"
        )
    vocabulary = None
    if preset.text.encoder == "trainable":
        path = folder / "vocabulary.json"
        if not path.is_file():
            raise VamerError(f"bundle {folder}: missing vocabulary.json (the trainable text encoder needs it)")
        vocabulary = {int(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
    regressors = manifest.get("regressors", {"arousal": True, "valence": True})
    if (
        not isinstance(regressors, dict)
        or set(regressors) - {"arousal", "valence"}
        or not all(isinstance(v, bool) for v in regressors.values())
    ):
        # bool("false") is True: a string would switch on a regressor that never trained.
        raise VamerError(
            f"bundle {folder}: {MANIFEST} 'regressors' must map arousal and valence to true or false, "
            f"found {regressors!r}"
        )
    if preset.audio_features.upstream:
        recorded, installed = manifest.get("audio_encoder"), audio_encoder_identity(preset)
        if recorded != installed:
            raise VamerError(
                f"bundle {folder} was trained on the audio encoder {recorded}, but the one installed "
                f"here is {installed}: its weights differ, so the model would read other features. "
                "Install the encoder the bundle names, or retrain"
            )
    return Bundle(folder, manifest, preset, classes, text_dim, vocabulary, regressors, fingerprint, population)

import pytest
import torch

from tests.builders import reseal_bundle
from vamer.errors import VamerError
from vamer.inference.bundle import BundleContents, read_bundle, write_bundle
from vamer.presets import load_preset
from vamer.presets.build import build_models

CLASSES = ["neutral", "happy"]


def test_the_python_api_never_writes_a_bundle_over_a_users_files(tmp_path):
    preset = load_preset("tiny")
    models = build_models(preset, len(CLASSES), 512)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(VamerError, match="holds files"):
        write_bundle(mine, BundleContents(preset, CLASSES, models, 512), {}, {})
    assert (mine / "notes.txt").read_text() == "my notes" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    fresh = tmp_path / "fresh"
    write_bundle(fresh, BundleContents(preset, CLASSES, models, 512), {}, {"fold": 0})
    assert read_bundle(fresh).classes == CLASSES
    with pytest.raises(VamerError, match="holds files"):  # nor over an earlier bundle
        write_bundle(fresh, BundleContents(preset, CLASSES, models, 512), {}, {})


def test_every_file_of_a_bundle_is_readable_by_the_users_the_umask_allows(tmp_path):
    """safetensors wrote the weights 0600: a service running as its own user could not load them."""
    import os

    preset = load_preset("tiny")
    previous = os.umask(0o022)
    try:
        write_bundle(
            tmp_path / "b", BundleContents(preset, CLASSES, build_models(preset, len(CLASSES), 512), 512), {}, {}
        )
    finally:
        os.umask(previous)
    modes = {path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "b").iterdir()}
    assert any(name.endswith(".safetensors") for name in modes) and set(modes.values()) == {0o644}, modes


@pytest.mark.espeak
def test_a_bundle_is_refused_where_another_voice_encoder_is_installed(tmp_path, bundle_dir):
    """The bundle names the frozen encoder and a hash of its weights: other weights under the same
    name would give the model other features, so the bundle is refused, saying why."""
    import json
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    assert read_bundle(copy).manifest["audio_encoder"]["spec"] == "ge2e"
    manifest = json.loads((copy / "bundle.json").read_text())
    manifest["audio_encoder"]["identity"] = "ge2e|0000000000000000|window160"
    (copy / "bundle.json").write_text(json.dumps(manifest))
    reseal_bundle(copy)
    with pytest.raises(VamerError, match="trained on the audio encoder .* its weights differ"):
        read_bundle(copy)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.pop("vamer_version"), "does not say which vamer wrote it"),
        (lambda m: m.update(vamer_version=None), "does not say which vamer wrote it"),
        (lambda m: m.update(regressors={"arousal": "false", "valence": True}), "must map arousal and valence to true"),
        (lambda m: m.update(regressors=["arousal"]), "must map arousal and valence to true"),
    ],
)
def test_a_bundle_json_with_a_missing_version_or_non_boolean_regressors_is_refused(tmp_path, edit, message):
    """A bundle.json without vamer_version, or with regressors that are not true/false, is refused
    with a message (not "Install vamer==None"; "false" must not switch a regressor on)."""
    import json

    preset = load_preset("tiny")
    folder = tmp_path / "bundle"
    write_bundle(folder, BundleContents(preset, CLASSES, build_models(preset, len(CLASSES), 512), 512), {}, {})
    manifest = json.loads((folder / "bundle.json").read_text())
    edit(manifest)
    (folder / "bundle.json").write_text(json.dumps(manifest))
    reseal_bundle(folder)
    with pytest.raises(VamerError, match=message):
        read_bundle(folder)


def _bundle(tmp_path, seed=0):
    preset = load_preset("tiny")
    folder = tmp_path / "bundle"
    torch.manual_seed(seed)
    write_bundle(folder, BundleContents(preset, CLASSES, build_models(preset, len(CLASSES), 512), 512), {}, {})
    return folder


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(classes=list(reversed(m["classes"]))),  # relabels every prediction
        lambda m: m["preset"]["audio_features"].update(hop_length=256),  # other features
        lambda m: m["preset"]["audio_features"].update(fmax=4000),
    ],
)
def test_an_edited_bundle_json_is_refused(tmp_path, edit):
    """A bundle whose classes were reordered (which would relabel its predictions), or whose hop
    length or fmax was changed, is refused at load."""
    import json

    folder = _bundle(tmp_path)
    manifest = json.loads((folder / "bundle.json").read_text())
    edit(manifest)
    (folder / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(VamerError, match="bundle.json was changed after the bundle was written"):
        read_bundle(folder)


def test_weights_of_another_run_or_with_nan_or_a_bundle_without_checksums_are_refused(tmp_path):
    """Another run's fusion.safetensors loaded silently; a NaN weight answered 200 with null
    probabilities and the label neutral."""
    from safetensors.torch import load_file, save_file

    from vamer.inference.bundle import CHECKSUMS

    folder = _bundle(tmp_path / "a")
    other = _bundle(tmp_path / "b", seed=1)
    assert read_bundle(folder).fingerprint != read_bundle(other).fingerprint
    (folder / "fusion.safetensors").write_bytes((other / "fusion.safetensors").read_bytes())
    with pytest.raises(VamerError, match="fusion.safetensors was changed after the bundle was written"):
        read_bundle(folder)

    weights = load_file(str(other / "fusion.safetensors"))
    first = sorted(key for key, value in weights.items() if value.is_floating_point())[0]
    weights[first][0] = float("nan")
    save_file(weights, str(other / "fusion.safetensors"))
    reseal_bundle(other)
    with pytest.raises(VamerError, match="fusion.safetensors holds NaN or infinite weights"):
        read_bundle(other).weights("fusion")

    (other / CHECKSUMS).unlink()
    with pytest.raises(VamerError, match=f"missing {CHECKSUMS}"):
        read_bundle(other)

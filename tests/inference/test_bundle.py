import pytest

from vamer.errors import VamerError
from vamer.inference.bundle import read_bundle, write_bundle
from vamer.models.build import build_models
from vamer.presets import load_preset

CLASSES = ["neutral", "happy"]


def test_the_python_api_never_writes_a_bundle_over_a_users_files(tmp_path):
    preset = load_preset("tiny")
    models = build_models(preset, len(CLASSES), 512)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(VamerError, match="holds files"):
        write_bundle(mine, preset, CLASSES, models, 512, None, {}, {})
    assert (mine / "notes.txt").read_text() == "my notes" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    fresh = tmp_path / "fresh"
    write_bundle(fresh, preset, CLASSES, models, 512, None, {}, {"fold": 0})
    assert read_bundle(fresh).classes == CLASSES
    with pytest.raises(VamerError, match="holds files"):      # nor over an earlier bundle
        write_bundle(fresh, preset, CLASSES, models, 512, None, {}, {})


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
    with pytest.raises(VamerError, match="trained on the audio encoder .* its weights differ"):
        read_bundle(copy)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.pop("vamer_version"), "does not say which vamer wrote it"),
    (lambda m: m.update(vamer_version=None), "does not say which vamer wrote it"),
    (lambda m: m.update(regressors={"arousal": "false", "valence": True}), "must map arousal and valence to true"),
    (lambda m: m.update(regressors=["arousal"]), "must map arousal and valence to true"),
])
def test_a_bundle_json_with_a_missing_version_or_non_boolean_regressors_is_refused(tmp_path, edit, message):
    """Up to vamer 0.2 the first said "Install vamer==None", and "false" switched a regressor on."""
    import json

    preset = load_preset("tiny")
    folder = tmp_path / "bundle"
    write_bundle(folder, preset, CLASSES, build_models(preset, len(CLASSES), 512), 512, None, {}, {})
    manifest = json.loads((folder / "bundle.json").read_text())
    edit(manifest)
    (folder / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(VamerError, match=message):
        read_bundle(folder)

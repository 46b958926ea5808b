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

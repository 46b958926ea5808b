import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from tests.builders import reseal_bundle
from vamer.cli import app
from vamer.errors import VamerError
from vamer.inference.bundle import read_bundle
from vamer.inference.export import export_onnx
from vamer.inference.predictor import Predictor

runner = CliRunner()


@pytest.fixture(scope="module")
def exported(bundle_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    result = runner.invoke(app, ["export", "--bundle", str(bundle_dir), "--onnx", str(folder / "model.onnx")])
    assert result.exit_code == 0, result.output
    assert "max |p_torch - p_onnx|" in result.output
    return folder / "model.onnx"


def test_onnx_matches_pytorch_on_real_demo_utterances(bundle_dir, exported, trained):
    wavs = sorted((trained[0] / "wav").rglob("*.wav"))[:12]
    torch_predictor = Predictor.from_bundle(bundle_dir)
    onnx_predictor = Predictor.from_bundle(bundle_dir, engine="onnx", onnx_path=exported)
    inputs = [(w, None) for w in wavs]
    expected = torch_predictor.predict_many(inputs, batch_size=5)
    got = onnx_predictor.predict_many(inputs, batch_size=5)
    classes = torch_predictor.classes
    difference = max(abs(e.probabilities[c] - g.probabilities[c]) for e, g in zip(expected, got) for c in classes)
    assert difference < 1e-4
    assert [e.label for e in expected] == [g.label for g in got]
    assert all(g.engine == "onnx" for g in got)
    rating = max(abs(e.arousal - g.arousal) + abs(e.valence - g.valence) for e, g in zip(expected, got))
    assert rating < 1e-3


def test_int8_export_runs_and_stays_close(bundle_dir, exported, trained, tmp_path):
    written = export_onnx(read_bundle(bundle_dir), tmp_path / "int8.onnx", int8=True)
    assert written["precision"] == "int8" and written["bytes"] < exported.stat().st_size
    assert written["max_abs_diff_probabilities"] < 0.1
    predictor = Predictor.from_bundle(bundle_dir, engine="onnx", onnx_path=tmp_path / "int8.onnx")
    result = predictor.predict(sorted((trained[0] / "wav").rglob("*.wav"))[0])
    assert abs(sum(result.probabilities.values()) - 1) < 1e-3


def test_export_never_overwrites_and_onnx_of_another_bundle_is_refused(bundle_dir, exported, tmp_path):
    again = runner.invoke(app, ["export", "--bundle", str(bundle_dir), "--onnx", str(exported)])
    assert again.exit_code == 2 and "--force" in again.output
    other = tmp_path / "other"
    shutil.copytree(bundle_dir, other)
    weights = load_file(str(other / "fusion.safetensors"))
    first = sorted(weights)[0]
    weights[first] = weights[first] + torch.ones_like(weights[first])
    save_file(weights, str(other / "fusion.safetensors"))
    reseal_bundle(other)  # a consistent bundle, only not the one the ONNX file came from
    with pytest.raises(VamerError, match="was not exported from the bundle"):
        Predictor.from_bundle(other, engine="onnx", onnx_path=exported)
    with pytest.raises(VamerError, match="vamer export"):
        Predictor.from_bundle(bundle_dir, engine="onnx", onnx_path=tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(VamerError, match="not a loadable ONNX model"):
        Predictor.from_bundle(bundle_dir, engine="onnx", onnx_path=tmp_path / "junk.onnx")


def test_an_onnx_graph_changed_after_export_is_refused(bundle_dir, exported, tmp_path):
    """The fingerprint was plain metadata over the weights only: a graph edited after export, its
    metadata kept, loaded silently."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(exported))
    initializer = max(model.graph.initializer, key=lambda tensor: numpy_helper.to_array(tensor).size)
    values = numpy_helper.to_array(initializer).copy()
    values.flat[0] += 1.0
    initializer.CopyFrom(numpy_helper.from_array(values, initializer.name))
    onnx.save(model, str(tmp_path / "edited.onnx"))
    with pytest.raises(VamerError, match="its graph was changed after `vamer export` wrote it"):
        Predictor.from_bundle(bundle_dir, engine="onnx", onnx_path=tmp_path / "edited.onnx")

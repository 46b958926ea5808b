"""One small trained bundle shared by the inference and serving tests (training it is the slow part)."""

import pytest

from vamer.data.readers import load
from vamer.experiment import run_experiment
from vamer.presets import load_preset


def tiny_like_cpu():
    """The tiny preset with the cpu preset's recipe (conv2d front, eGeMAPS token, positions, input
    standardisation, statistics pooling), so every input of the default model is served and exported."""
    preset = load_preset("tiny")
    recipe = {"cnn": "conv2d", "standardize_input": True, "positional": True, "head": "stats"}
    return preset.model_copy(update={
        "audio_features": preset.audio_features.model_copy(update={"functionals": "egemaps"}),
        "audio_block": preset.audio_block.model_copy(update=recipe),
        "text_block": preset.text_block.model_copy(update={"positional": True, "head": "stats"}),
        "fusion": preset.fusion.model_copy(update={"head": "stats"})})


@pytest.fixture(scope="session")
def trained(tmp_path_factory, demo_corpus):
    """(demo corpus folder, `vamer run` folder) of the tiny preset on the shared 4-session demo."""
    root = tmp_path_factory.mktemp("trained")
    demo = demo_corpus
    run = root / "run"
    run_experiment(load(demo), run, tiny_like_cpu(), cv="session:2", ablations=False, cache=root / "cache",
                   progress=False)
    return demo, run


@pytest.fixture(scope="session")
def bundle_dir(trained):
    return trained[1] / "bundle"

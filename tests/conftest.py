import os
import shutil

import numpy as np
import pytest
import soundfile

from tests.builders import LongRecording, build_long, run_config
from vamer.commands.run import run
from vamer.presets import load_preset
from vamer.training.devices import TrainerOptions

ESPEAK = shutil.which("espeak-ng")


def pytest_collection_modifyitems(config, items):
    """Tests that speak (marked ``espeak``, or using the shared demo corpus) say so in their marker:
    ``-m "not espeak"`` deselects them.  Outside CI a machine without espeak-ng skips them with the
    reason; in CI (where `make test` installs it) a missing espeak-ng fails them instead of hiding a
    broken setup step."""
    for item in items:
        if "demo_corpus" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.espeak)
        if ESPEAK is None and not os.environ.get("CI") and item.get_closest_marker("espeak"):
            item.add_marker(pytest.mark.skip(reason="espeak-ng missing; run `make setup`"))


DEMO = {"sessions": 4, "segments_per_session": 12, "seed": 4}  # the shared demo corpus's settings


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory):
    """One small synthetic KEMDy20 corpus (4 sessions x 12 segments, seed 4, with bio-signals),
    generated once per test session and shared by every test that needs real speech.  Tests only
    read it; what they write goes to their own tmp_path."""
    from vamer.data.demo import generate_demo

    root = tmp_path_factory.mktemp("shared-demo") / "corpus"
    generate_demo(root, **DEMO, progress=False)
    return root


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory):
    """One feature cache for the whole-job tests on :func:`demo_corpus`: its features are computed
    once per session, not once per test (a cache entry is keyed by content and settings, so sharing
    it changes no result)."""
    return tmp_path_factory.mktemp("shared-cache")


# The browser test drives Debian's chromium through its chromedriver (both installed by `make setup`).
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    (CHROMIUM is None or CHROMEDRIVER is None) and not os.environ.get("CI"),
    reason="chromium/chromedriver missing; run `make setup`",
)


def tiny_like_cpu():
    """The tiny preset with the recipe of the cpu presets (conv2d front, positions, input
    standardisation, statistics pooling), cpu-egemaps' eGeMAPS token and cpu-ge2e's GE2E voice
    encoder token, speaker context and probe ensemble, so every input a shipped preset reads is
    served, exported and checked for train/predict parity."""
    preset = load_preset("tiny")
    recipe = {
        "cnn": "conv2d",
        "standardize_input": True,
        "positional": True,
        "head": "stats",
        "upstream_read": "concat",
    }
    return preset.model_copy(
        update={
            "audio_features": preset.audio_features.model_copy(
                update={"functionals": "egemaps", "upstream": "ge2e", "speaker_norm": "z", "speaker_prior_clips": 20}
            ),
            "audio_block": preset.audio_block.model_copy(update=recipe),
            "text_block": preset.text_block.model_copy(update={"positional": True, "head": "stats"}),
            "fusion": preset.fusion.model_copy(update={"head": "stats", "probe_ensemble": True}),
        }
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory, demo_corpus):  # one trained bundle for the inference and serving tests
    """(demo corpus folder, `vamer run` folder) of the tiny preset on the shared 4-session demo."""
    root = tmp_path_factory.mktemp("trained")
    demo = demo_corpus
    run_folder = root / "run"
    # The debug profile: what these tests check is the wiring from a bundle on, not what it learned.
    config = run_config(demo, tiny_like_cpu(), cv="session:2", cache=root / "cache", trainer=TrainerOptions.debug())
    run(config, run_folder)
    return demo, run_folder


@pytest.fixture(scope="session")
def bundle_dir(trained):
    return trained[1] / "bundle"


@pytest.fixture(scope="session")
def predictor(bundle_dir):
    from vamer.inference.predictor import Predictor

    return Predictor.from_bundle(bundle_dir)


@pytest.fixture(scope="session")
def long_recording(tmp_path_factory, demo_corpus, predictor) -> LongRecording:
    """20 demo utterances (from every session; each within what the test model reads of one clip,
    so that one utterance is one segment) with 0.8 to 2.5 s of room tone between them."""
    from vamer.timeline.build import model_window_s

    window = model_window_s(predictor)
    wavs = [wav for wav in sorted((demo_corpus / "wav").rglob("*.wav")) if soundfile.info(wav).duration < window - 0.3]
    wavs = wavs[:: max(1, len(wavs) // 20)][:20]
    gaps = list(np.random.default_rng(1).uniform(0.8, 2.5, len(wavs)))
    return build_long(tmp_path_factory.mktemp("long"), wavs, gaps, demo_silences())


@pytest.fixture(scope="session")
def short_recording(tmp_path_factory, long_recording) -> LongRecording:
    """The first 8 utterances of :func:`long_recording`, 1 s of room tone before each: what the
    tests that recognise words read (recognition is the slowest thing the tests do)."""
    return build_long(
        tmp_path_factory.mktemp("short"), long_recording.utterances[:8], [1.0] * 8, long_recording.silences
    )


def demo_silences() -> dict[str, tuple[float, float]]:
    """utt_id -> the silence the generator put before and after the speech of each utterance of
    the shared demo corpus (its plan: the same settings give the same plan)."""
    from vamer.data.demo.corpus import plan_corpus

    return {segment.utt_id: (segment.lead_s, segment.tail_s) for segment in plan_corpus(**DEMO)}

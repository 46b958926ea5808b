"""The pluggable audio encoder (``--audio-encoder hf:<folder>``), offline, with a tiny randomly
initialised wav2vec 2.0 that the test saves to a temporary folder."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from typer.testing import CliRunner

from tests.builders import write_wav
from vamer.errors import VamerError
from vamer.features.config import AudioFeatureConfig
from vamer.features.upstream import AudioUpstream, extract_upstream
from vamer.models.audio import AudioEncoder
from vamer.models.config import AudioBlockConfig


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    folder = tmp_path_factory.mktemp("wav2vec2")
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        vocab_size=8,
    )
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16_000).save_pretrained(folder)
    return folder


def test_per_layer_averages_are_cached_and_feed_a_learned_layer_mix(tmp_path, tiny_wav2vec2):
    write_wav(tmp_path / "a.wav", seconds=0.8)
    noise = np.random.default_rng(0).normal(0, 0.2, 12_000)
    soundfile.write(str(tmp_path / "b.wav"), noise, 16_000, subtype="PCM_16")
    table = pd.DataFrame({"utt_id": ["a", "b"], "audio_path": [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]})
    config = AudioFeatureConfig(upstream=f"hf:{tiny_wav2vec2}")
    states, failed = extract_upstream(table, config, tmp_path / "cache", progress=False)
    assert failed == [] and states["a"].shape == (3, 16)  # CNN features + 2 layers, hidden 16
    assert not np.allclose(states["a"], states["b"])
    again, _ = extract_upstream(table, config, tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(again["a"], states["a"])  # read back from the cache
    assert len(list((tmp_path / "cache" / "audio-upstream").rglob("*.npy"))) == 2

    encoder = AudioEncoder(
        AudioBlockConfig(channels=(2, 4), time_pool=2, d_model=16, heads=2, ffn=32, layers=1), upstream_shape=(3, 16)
    )
    upstream = torch.tensor(np.stack([states["a"], states["b"]]), dtype=torch.float)
    out, mask = encoder(torch.randn(2, 2, 20, 128), torch.ones(2, 20, dtype=torch.bool), upstream=upstream)
    assert out.shape == (2, 11, 16) and mask.all()  # one more token in front
    out.sum().backward()
    assert encoder.layer_weights.grad is not None and encoder.layer_weights.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="upstream states shaped"):
        encoder(torch.randn(2, 2, 20, 128), torch.ones(2, 20, dtype=torch.bool))


def test_bad_audio_encoder_specs_are_clear_errors(tmp_path):
    with pytest.raises(VamerError, match="use hf:"):
        AudioUpstream("wav2vec2")
    with pytest.raises(VamerError, match="cannot load Hugging Face audio encoder"):
        AudioUpstream(f"hf:{tmp_path / 'nothing-here'}")


@pytest.mark.espeak
def test_run_with_an_audio_encoder_trains_bundles_and_predicts(tmp_path, tiny_wav2vec2, demo_corpus, demo_cache):
    from vamer.cli import app
    from vamer.inference.predictor import Predictor

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(demo_corpus),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--cv",
            "session:2",
            "--no-ablations",
            "--cache",
            str(demo_cache),
            "--classes",
            "neutral,happy,angry,sad",
            "--audio-encoder",
            f"hf:{tiny_wav2vec2}",
        ],
    )
    assert result.exit_code == 0, result.output
    bundle = json.loads((out / "bundle" / "bundle.json").read_text())
    assert bundle["preset"]["audio_features"]["upstream"] == f"hf:{tiny_wav2vec2}"
    wav = next((demo_corpus / "wav" / "Session01").glob("*.wav"))
    predictor = Predictor.from_bundle(out / "bundle")
    prediction = predictor.predict(wav)
    assert prediction.label in bundle["classes"] and abs(sum(prediction.probabilities.values()) - 1) < 1e-4
    # The encoder's states a prediction reads are the ones training read (the input contract).
    from vamer.data import load
    from vamer.features.store import FeatureStore

    table = load(demo_corpus, read_bio=False).utterances.head(3)
    preset = predictor.bundle.preset
    store = FeatureStore.build(
        table, sorted(set(table["emotion"])), preset.audio_features, preset.text, demo_cache, progress=False
    )
    split = store.split()
    for index, row in enumerate(split.rows.itertuples()):
        path = store.table.set_index("utt_id").loc[row.utt_id, "audio_path"]
        prepared = predictor.prepare(path, row.text).inputs["upstream"]
        assert prepared.shape[0] > 0 and np.array_equal(prepared, split[index]["upstream"])


@pytest.mark.espeak
def test_whisper_s_encoder_states_pooled_over_the_clip_s_own_frames(tmp_path):
    import subprocess

    import librosa

    from vamer.speech import load_recognizer

    wav = tmp_path / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), "오늘 정말 재밌었어"], check=True)
    samples, rate = soundfile.read(wav, dtype="float32")
    soundfile.write(str(tmp_path / "spoken16.wav"), librosa.resample(samples, orig_sr=rate, target_sr=16_000), 16_000)
    write_wav(tmp_path / "tone.wav", seconds=1.2)
    table = pd.DataFrame(
        {"utt_id": ["spoken", "tone"], "audio_path": [str(tmp_path / "spoken16.wav"), str(tmp_path / "tone.wav")]}
    )
    config = AudioFeatureConfig(upstream="whisper-base")
    states, failed = extract_upstream(table, config, tmp_path / "cache", progress=False)
    assert failed == [] and states["spoken"].shape == (2, 512) and np.isfinite(states["spoken"]).all()
    assert not np.allclose(states["spoken"], states["tone"], atol=1e-2)
    # Pooled over the clip's own frames: 1.2 s of tone reads 60 of the 1500 states.
    frames = load_recognizer("whisper-base").encoder_states(soundfile.read(tmp_path / "tone.wav", dtype="float32")[0])
    assert frames.shape == (60, 512)
    np.testing.assert_allclose(states["tone"][0], frames.mean(axis=0), atol=2e-2)  # stored as float16
    with pytest.raises(ValueError, match="16000 Hz"):
        AudioFeatureConfig(upstream="whisper-base", sample_rate=22_050, fmax=8_000)

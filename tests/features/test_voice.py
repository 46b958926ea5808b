"""The GE2E voice encoder (``--audio-encoder ge2e``), loaded offline from the installed resemblyzer wheel."""

import importlib.util

import librosa
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tests.builders import write_wav
from vamer.errors import VamerError
from vamer.features.config import AudioFeatureConfig
from vamer.features.upstream import extract_upstream, load_upstream, upstream_shape
from vamer.features.voice import (
    STATE_ROWS,
    WINDOW_FRAMES,
    GE2EUpstream,
    ge2e_weights_path,
    load_ge2e,
    mel_power,
    windows_of,
)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced-looking signal: a gliding harmonic tone with noise, at 16 kHz."""
    t = np.arange(int(seconds * 16_000)) / 16_000
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 16_000
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    noise = np.random.default_rng(seed).normal(0, 0.02, len(t))
    return (0.2 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + noise).astype(np.float32)


def _reference_lstm() -> torch.nn.LSTM:
    """The wheel's 3-layer LSTM built the way resemblyzer builds it (one nn.LSTM, strict load)."""
    state = torch.load(ge2e_weights_path(), map_location="cpu", weights_only=True)["model_state"]
    lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
    lstm.load_state_dict({k[len("lstm.") :]: v for k, v in state.items() if k.startswith("lstm.")})
    return lstm.eval()


def test_the_encoder_loads_offline_from_the_installed_wheel():
    path = ge2e_weights_path()
    assert path.name == "pretrained.pt" and "site-packages" in str(path) and path.stat().st_size > 10_000_000
    encoder = load_ge2e()
    assert encoder.identity.startswith("ge2e|") and load_upstream("ge2e") is encoder
    assert upstream_shape("ge2e") == (len(STATE_ROWS), 256) == (7, 256)
    assert not any(p.requires_grad for p in encoder.model.parameters())  # frozen
    states = encoder.states(_speechlike(2.0))
    assert states.shape == (7, 256) and np.isfinite(states).all()
    assert abs(np.linalg.norm(states[6]) - 1) < 1e-5  # the embedding is L2-normed
    assert (states[3:6] > 0).any()  # stds of a moving signal


def test_states_are_the_pretrained_lstm_read_per_window():
    """Each layer's time average is the wheel's LSTM (built as resemblyzer builds it) over the same
    windows; the embedding of a single window is resemblyzer's formula."""
    samples = _speechlike(4.0)
    frames = mel_power(samples)
    windows, valid = windows_of(frames)
    assert windows.shape[0] == -(-len(frames) // WINDOW_FRAMES) and valid.sum() == len(frames)
    lstm = _reference_lstm()
    with torch.no_grad():
        outputs = [lstm(torch.from_numpy(w[v][None]))[0][0] for w, v in zip(windows, valid)]
    last_layer_mean = torch.cat(outputs).mean(dim=0).numpy()
    np.testing.assert_allclose(load_ge2e().states(samples)[2], last_layer_mean, atol=1e-5)

    one = _speechlike(1.2, seed=1)
    state = torch.load(ge2e_weights_path(), map_location="cpu", weights_only=True)["model_state"]
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(mel_power(one))[None])
        raw = torch.relu(hidden[-1] @ state["linear.weight"].T + state["linear.bias"])
    np.testing.assert_allclose(load_ge2e().states(one)[6], (raw / raw.norm())[0].numpy(), atol=1e-5)


def test_mel_frames_are_the_ones_the_encoder_was_trained_on():
    samples = _speechlike(1.0)
    expected = librosa.feature.melspectrogram(y=samples, sr=16_000, n_fft=400, hop_length=160, n_mels=40).T
    np.testing.assert_allclose(mel_power(samples), expected, rtol=1e-4, atol=1e-7)


def test_padding_of_the_last_window_changes_nothing():
    """A clip one frame longer than a whole number of windows gets a short, zero-padded last window;
    its padded frames are left out of every pooled value."""
    frames = mel_power(_speechlike(3.3))
    windows, valid = windows_of(frames)
    model = load_ge2e().model
    garbage = windows.copy()
    garbage[~valid] = 1e3
    with torch.no_grad():
        clean = model(torch.from_numpy(windows), torch.from_numpy(valid))
        dirty = model(torch.from_numpy(garbage), torch.from_numpy(valid))
    torch.testing.assert_close(clean, dirty)


def test_states_are_cached_like_the_other_features(tmp_path):
    write_wav(tmp_path / "a.wav", seconds=1.5)
    table = pd.DataFrame({"utt_id": ["a"], "audio_path": [str(tmp_path / "a.wav")]})
    config = AudioFeatureConfig(upstream="ge2e")
    states, failed = extract_upstream(table, config, tmp_path / "cache", progress=False)
    assert failed == [] and states["a"].shape == (7, 256) and states["a"].dtype == np.float16
    assert len(list((tmp_path / "cache" / "audio-upstream").rglob("*.npy"))) == 1
    again, _ = extract_upstream(table, config, tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(again["a"], states["a"])


def test_ge2e_needs_16_khz_features():
    with pytest.raises(ValueError, match="16000 Hz"):
        AudioFeatureConfig(upstream="ge2e", sample_rate=22_050, fmax=8_000)
    with pytest.raises(ValueError, match="use ge2e, whisper-base or hf:"):
        AudioFeatureConfig(upstream="resemblyzer")


def test_a_missing_package_names_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    with pytest.raises(VamerError, match=r"pip install resemblyzer==0\.1\.4"):
        GE2EUpstream()


def test_a_missing_package_is_one_error_line_from_the_cli(monkeypatch, tmp_path):
    from vamer.cli import app

    load_upstream.cache_clear()
    load_ge2e.cache_clear()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    manifest = tmp_path / "m.csv"
    write_wav(tmp_path / "a.wav", seconds=1.0)
    write_wav(tmp_path / "b.wav", seconds=1.2)
    manifest.write_text("audio,emotion,speaker\na.wav,happy,s1\nb.wav,sad,s2\n", encoding="utf-8")
    try:
        result = CliRunner().invoke(
            app, ["baseline", str(manifest), "--cv", "speaker:2", "--cache", str(tmp_path / "cache")]
        )
    finally:
        load_upstream.cache_clear()
        load_ge2e.cache_clear()
    assert result.exit_code == 2, result.output
    assert "pip install resemblyzer==0.1.4" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("damage", ["shape", "nan", "not_a_checkpoint"])
def test_damaged_weights_are_refused(tmp_path, damage):
    path = tmp_path / "pretrained.pt"
    if damage == "not_a_checkpoint":
        path.write_bytes(b"this is not a torch file")
    else:
        checkpoint = torch.load(ge2e_weights_path(), map_location="cpu", weights_only=True)
        state = dict(checkpoint["model_state"])
        if damage == "shape":
            state["linear.weight"] = state["linear.weight"][:128]
        else:
            state["lstm.weight_hh_l1"] = state["lstm.weight_hh_l1"].clone()
            state["lstm.weight_hh_l1"][0, 0] = float("nan")
        torch.save({"model_state": state}, path)
    with pytest.raises(VamerError, match="pretrained.pt"):
        GE2EUpstream(path)

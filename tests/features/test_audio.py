import io
import math

import librosa
import numpy as np
import pytest
import soundfile

from vamer.features.audio import (
    AudioError,
    decode,
    features_from_bytes,
    read_samples,
    read_seconds,
    with_delta,
)
from vamer.features.config import AudioFeatureConfig
from vamer.features.inputs import model_audio

CONFIG = AudioFeatureConfig()


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize(("rate", "channels"), [(8_000, 1), (44_100, 1), (16_000, 2), (44_100, 2)])
def test_any_rate_and_channel_count_becomes_16k_mono_with_the_same_content(rate, channels):
    reference = features_from_bytes(wav_bytes(tone(1.0, 16_000), 16_000), CONFIG)
    mel = features_from_bytes(wav_bytes(tone(1.0, rate, channels), rate), CONFIG)
    assert len(decode(wav_bytes(tone(1.0, rate, channels), rate), 16_000)) == 16_000
    assert mel.shape == reference.shape == (32, 128)
    # The 440 Hz tone lands in the same mel bin whatever the source format.
    assert mel.mean(axis=0).argmax() == reference.mean(axis=0).argmax()


def test_silence_short_long_truncated_and_empty():
    with pytest.raises(AudioError) as silent:
        features_from_bytes(wav_bytes(np.zeros(16_000), 16_000), CONFIG)
    assert silent.value.reason == "silent"
    with pytest.raises(AudioError) as short:
        features_from_bytes(wav_bytes(tone(0.05, 16_000), 16_000), CONFIG)
    assert short.value.reason == "too_short"
    full = wav_bytes(tone(1.0, 16_000), 16_000)
    for broken in (full[:30], b""):
        with pytest.raises(AudioError) as unreadable:
            features_from_bytes(broken, CONFIG)
        assert unreadable.value.reason == "unreadable_wav"
    long_mel = features_from_bytes(wav_bytes(tone(60.0, 16_000), 16_000), CONFIG)
    # Only what the model reads is decoded: max_frames plus a margin, not the 1876 frames of 60 s.
    assert long_mel.shape[0] == 1 + math.ceil(read_seconds(CONFIG) * 16_000) // CONFIG.hop_length
    assert CONFIG.max_frames < long_mel.shape[0] < 1876
    audio, mask = model_audio(long_mel, CONFIG.max_frames)
    assert audio.shape == (2, 512, 128) and mask.all()


def test_mask_comes_from_length_not_from_values():
    mel = np.zeros((40, 128), dtype=np.float32)  # a mel of exact zeros is still 40 real frames
    audio, mask = model_audio(mel, 512)
    assert audio.shape == (2, 40, 128) and mask.shape == (40,) and mask.all()


def test_delta_is_librosas_and_values_are_db_relative_to_max():
    mel = features_from_bytes(
        wav_bytes(tone(2.0, 16_000, freq=300) + 0.01 * np.random.default_rng(0).normal(size=32_000), 16_000), CONFIG
    )
    assert mel.max() == 0.0 and mel.min() >= -80.0
    stacked = with_delta(mel)
    np.testing.assert_allclose(stacked[1], librosa.feature.delta(mel, axis=0), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_their_own_reason(bad):
    samples = tone(1.0, 16_000).astype(np.float32)
    samples[100] = bad
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16_000, format="WAV", subtype="FLOAT")  # float wav keeps NaN and inf
    with pytest.raises(AudioError) as refused:
        features_from_bytes(buffer.getvalue(), CONFIG)
    assert refused.value.reason == "non_finite_audio" and "1 of 16,000 samples" in str(refused.value)


@pytest.mark.parametrize("peak", [1e18, float(np.finfo(np.float32).max)])
def test_finite_but_absurd_samples_are_refused_with_their_reason(peak):
    """They are refused: their power would overflow into an all-NaN log-mel."""
    samples = tone(1.0, 16_000).astype(np.float32)
    samples[100] = peak
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16_000, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioError) as refused:
        features_from_bytes(buffer.getvalue(), CONFIG)
    assert refused.value.reason == "out_of_range_audio"


def test_only_the_requested_seconds_are_decoded():
    data = wav_bytes(tone(10.0, 48_000, channels=2), 48_000)
    samples, rate = read_samples(data, 2.0)
    assert rate == 48_000 and samples.shape == (96_000, 2)
    assert read_samples(data)[0].shape == (480_000, 2)

"""A long recording refuses what one clip refuses: absurd samples and too little audio."""

import numpy as np
import pytest
import soundfile

from vamer.features.audio import AudioError, decode
from vamer.inference.intake import PredictionError
from vamer.limits import TimelineLimits
from vamer.timeline.build import build_timeline
from vamer.timeline.recording import LongRecording


def test_a_recording_scaled_past_any_real_level_is_refused_as_one_clip_of_it_is(predictor, long_recording, tmp_path):
    """Scaled by 1e30, a recording answered "silence only" while one clip of it got 422."""
    samples, rate = soundfile.read(long_recording.path, dtype="float32")
    loud = tmp_path / "loud.wav"
    soundfile.write(loud, samples * np.float32(1e30), rate, subtype="FLOAT")
    with pytest.raises(PredictionError) as whole:
        build_timeline(predictor, loud)
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, samples[: 3 * rate] * np.float32(1e30), rate, subtype="FLOAT")
    with pytest.raises(PredictionError) as one:
        predictor.predict(clip)
    assert whole.value.kind == one.value.kind == "out_of_range_audio", (whole.value, one.value)


def test_a_recording_of_one_sample_is_too_short_not_silence(tmp_path):
    tiny = tmp_path / "one.wav"
    soundfile.write(tiny, np.zeros(1, dtype=np.float32), 16_000)
    with pytest.raises(PredictionError) as refused:
        LongRecording.open(tiny, TimelineLimits())
    assert refused.value.kind == "too_short" and "1 sample" in str(refused.value)


def test_a_float64_file_beyond_float32_is_out_of_range_not_infinite(tmp_path):
    """1e300 in a 64-bit float wav was read as float32, became inf, and was reported as NaN/inf."""
    huge = tmp_path / "huge.wav"
    samples = np.zeros(16_000)
    samples[100] = 1e300
    soundfile.write(huge, samples, 16_000, subtype="DOUBLE")
    with pytest.raises(AudioError) as refused:
        decode(huge.read_bytes(), 16_000)
    assert refused.value.reason == "out_of_range_audio" and "1e+300" in str(refused.value)
    with pytest.raises(PredictionError) as long:
        list(LongRecording.open(huge, TimelineLimits()).blocks())
    assert long.value.kind == "out_of_range_audio"


def wide_recording(seconds: float) -> bytes:
    """FLAC of 8 channels at 655,350 Hz (FLAC's highest rate): each channel a tone of its own."""
    import io

    rate, buffer = 655_350, io.BytesIO()
    with soundfile.SoundFile(buffer, "w", samplerate=rate, channels=8, format="FLAC", subtype="PCM_16") as sink:
        t = np.arange(int(seconds * rate)) / rate
        sink.write(np.stack([0.1 * np.sin(2 * np.pi * 200 * (c + 1) * t) for c in range(8)], axis=1))
    return buffer.getvalue()


def test_a_wide_recording_is_decoded_within_the_block_budget_and_refused_past_its_total():
    """A 228 KB FLAC of 40 s, 8 channels at 655 kHz took the service from 730 MB to 1.63 GB: it was
    read in 30 s blocks of 629 MB.  Blocks and segments read back now stay within max_block_mb."""
    data = wide_recording(2.0)
    limits = TimelineLimits(max_block_mb=4.0)
    recording = LongRecording.open(data, limits)
    blocks = list(recording.blocks())
    assert max(block.nbytes for block in blocks) <= 4e6 and sum(len(b) for b in blocks) == recording.info.frames
    whole = np.concatenate(blocks)
    span = recording.span(0.25, 1.75)  # 1.5 s of 8 channels is 31 MB: read and mixed piece by piece
    assert span.ndim == 1 and np.allclose(span, whole[round(0.25 * 655_350) : round(1.75 * 655_350)].mean(axis=1))
    short = recording.span(0.5, 0.6)  # within the budget: every channel, as before
    assert short.shape == (65_535, 8)
    with pytest.raises(PredictionError) as refused:
        LongRecording.open(data, TimelineLimits(max_decoded_mb=20))
    assert refused.value.kind == "too_large" and "42 MB of samples" in str(refused.value)

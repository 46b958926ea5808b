"""A long recording refuses what one clip refuses: absurd samples and too little audio."""

import numpy as np
import pytest
import soundfile

from vamer.features.audio import AudioError, decode
from vamer.inference.intake import PredictionError
from vamer.timeline.build import build_timeline
from vamer.timeline.recording import LongRecording, TimelineLimits


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

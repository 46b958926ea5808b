"""Audio features: any wav -> mono 16 kHz -> log-mel (dB) + first-order delta, ``[2, T, n_mels]``.

The cache stores only the log-mel ``[T, n_mels]`` (float16); the delta is recomputed when a model
input is built, so that an augmented (masked) mel gets the delta of what it now contains.

>>> import numpy as np
>>> from vamer.features.config import AudioFeatureConfig
>>> config = AudioFeatureConfig()
>>> tone = np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000).astype(np.float32)
>>> mel = log_mel(tone, config)
>>> mel.shape, float(mel.max())
((32, 128), 0.0)
>>> with_delta(mel).shape
(2, 32, 128)
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import librosa
import numpy as np
import soundfile
from threadpoolctl import ThreadpoolController

from vamer.features.config import AudioFeatureConfig
from vamer.reasons import ReasonedError

DB_FLOOR = -80.0  # power_to_db(ref=max, top_db=80): every value lies in [-80, 0]
# Audio decoded past the last frame a model reads: the last FFT window, and room for the resampler.
READ_MARGIN_S = 0.5
MAX_SAMPLE = 10_000.0  # 80 dB above a float wav's full scale: no recording, only a broken file, goes there
_BLAS = ThreadpoolController()  # inspected once: a fresh threadpool_limits costs ~0.5-2 ms a call


def one_blas_thread():
    """A context in which NumPy's BLAS runs on one thread.

    Features of one utterance are small matrices: a second BLAS thread gains nothing there, and
    beside a model's own threads (or other requests) it fights them for the cores (measured: a warm
    ``predict`` at p50 45 ms with BLAS on 2 threads, 21 ms on one).  It also fixes the summation
    order, so predict-time features equal the extraction workers' bit for bit.
    """
    return _BLAS.limit(limits=1, user_api="blas")


class AudioError(ReasonedError):
    """A clip that cannot become features; ``reason`` (a :class:`vamer.reasons.Reason`) says why."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: sample rate, channels, frames (and so its duration)."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def sound_source(data: bytes | Path) -> io.BytesIO | bytes:
    """What libsndfile opens for audio bytes or a file."""
    # A path goes to libsndfile as the file system's bytes: a name that is not valid UTF-8 (Latin-1
    # from an old archive) would not survive being encoded from str.
    return os.fsencode(data) if isinstance(data, Path) else io.BytesIO(data)


def _reason(error: Exception) -> str:
    # libsndfile's message names the file object; its error_string is the reason alone.
    return (getattr(error, "error_string", None) or str(error)).strip().rstrip(".")


def probe(data: bytes | Path) -> AudioInfo:
    """Read only the header of audio bytes or an audio file (wav, flac, ogg: whatever libsndfile reads)."""
    try:
        info = soundfile.info(sound_source(data))
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as error:
        raise AudioError("unreadable_wav", f"not a readable audio file ({_reason(error)})") from None
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))


def read_seconds(config: AudioFeatureConfig) -> float:
    """Seconds of a recording that features are computed from: what ``max_frames`` cover, plus a margin.

    Training and prediction both decode only this much, so a long or huge file costs no more than
    the model reads, and both see the same samples.
    """
    return ((config.max_frames - 1) * config.hop_length + config.n_fft) / config.sample_rate + READ_MARGIN_S


def frames_to_read(info: AudioInfo, seconds: float | None) -> int:
    """How many frames of a file with header ``info`` are decoded for ``seconds`` (all when None)."""
    if seconds is None:
        return info.frames
    return min(info.frames, math.ceil(seconds * info.sample_rate))


def read_dtype(handle: soundfile.SoundFile) -> str:
    """The dtype a file's samples are read as: float64 for a 64-bit float file, whose samples may not
    fit float32 (1e300 read as float32 is inf, and was reported as such), float32 otherwise."""
    return "float64" if handle.subtype == "DOUBLE" else "float32"


def read_samples(data: bytes | Path, seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode at most the first ``seconds`` of audio bytes or a file -> (float32 ``[n, channels]``, rate)."""
    try:
        with soundfile.SoundFile(sound_source(data)) as handle:
            count = frames_to_read(AudioInfo(handle.samplerate, handle.channels, handle.frames), seconds)
            samples = handle.read(count, dtype=read_dtype(handle), always_2d=True)
            return samples, int(handle.samplerate)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as error:
        raise AudioError("unreadable_wav", f"cannot decode: {_reason(error)}") from None


def in_range(samples: np.ndarray) -> np.ndarray:
    """``samples`` as float32, once every one is finite and within :data:`MAX_SAMPLE` of full scale
    (float wav files can hold NaN, inf, 1e18 or, as float64, 1e300, which float32 cannot); else an
    AudioError, ``non_finite_audio`` or ``out_of_range_audio``."""
    samples = np.asarray(samples)
    if samples.dtype != np.float64:
        samples = samples.astype(np.float32, copy=False)
    bad = samples.size - int(np.isfinite(samples).sum())
    if bad:
        raise AudioError("non_finite_audio", f"{bad:,} of {samples.size:,} samples are NaN or infinite")
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > MAX_SAMPLE:
        # Finite but absurd: its power overflows to inf and every log-mel frame became NaN, silently,
        # in the cache.
        raise AudioError(
            "out_of_range_audio",
            f"the largest sample is {peak:.3g}; full scale is 1 and vamer refuses samples beyond {MAX_SAMPLE:,.0f}",
        )
    return samples.astype(np.float32, copy=False)


def mono_at(samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """``[n]`` or ``[n, channels]`` samples at ``rate`` -> float32 mono at ``sample_rate`` (channels
    averaged, soxr resampling).  NaN or infinite samples, and finite ones beyond :data:`MAX_SAMPLE`
    (float wav files can hold both), are refused."""
    samples = in_range(samples)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise AudioError("unreadable_wav", f"expected samples shaped [n] or [n, channels], got {samples.shape}")
    if samples.shape[0] == 0:
        raise AudioError("empty_wav", "no samples")
    if rate != sample_rate:
        samples = librosa.resample(samples, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(samples, dtype=np.float32)


def decode(data: bytes, sample_rate: int, seconds: float | None = None) -> np.ndarray:
    """Audio bytes (at most their first ``seconds``) -> float32 mono at ``sample_rate``."""
    samples, rate = read_samples(data, seconds)
    return mono_at(samples, rate, sample_rate)


@lru_cache(maxsize=8)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa's mel filterbank ``[n_mels, 1 + n_fft // 2]``, built once per setting (building it
    took a fifth of a prediction's mel time)."""
    filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    filters.setflags(write=False)
    return filters


def log_mel(samples: np.ndarray, config: AudioFeatureConfig) -> np.ndarray:
    """Mono samples -> log-mel in dB relative to the clip's maximum, ``[T, n_mels]`` float32
    (librosa's power STFT through librosa's mel filterbank: ``librosa.feature.melspectrogram``)."""
    if len(samples) < config.n_fft:
        raise AudioError("too_short", f"{len(samples)} samples, shorter than one {config.n_fft}-sample frame")
    peak = float(np.abs(samples).max())
    if peak < config.silence_peak:
        raise AudioError("silent", f"peak {peak:.2e} below {config.silence_peak:g}")
    filters = _mel_filters(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax)
    with one_blas_thread():
        power = np.abs(librosa.stft(samples, n_fft=config.n_fft, hop_length=config.hop_length)) ** 2
        mel = filters @ power  # [n_mels, T]
    return librosa.power_to_db(mel, ref=np.max, top_db=-DB_FLOOR).T.astype(np.float32)


def time_delta(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """librosa's first-order delta along the time ``axis``, with the window narrowed for short clips
    (librosa needs at least as many frames as its 9-frame window; fewer than 3 frames give zeros)."""
    frames = values.shape[axis]
    if frames < 3:
        return np.zeros_like(values, dtype=np.float32)
    width = min(9, frames if frames % 2 else frames - 1)
    return librosa.feature.delta(values, width=width, axis=axis, mode="interp").astype(np.float32)


def with_delta(mel: np.ndarray) -> np.ndarray:
    """``[T, n_mels]`` -> ``[2, T, n_mels]``: the mel and its first-order delta along time."""
    mel = np.asarray(mel, dtype=np.float32)
    return np.stack([mel, time_delta(mel, axis=0)])


def features_from_bytes(data: bytes, config: AudioFeatureConfig) -> np.ndarray:
    """The whole audio path for one file: decode, resample, log-mel; raises AudioError."""
    return log_mel(decode(data, config.sample_rate, read_seconds(config)), config)


def stored_mel(mel: np.ndarray, config: AudioFeatureConfig) -> np.ndarray:
    """The mel as training keeps it: cropped to ``max_frames`` and rounded to float16.

    Training reads this from the cache and the predictor computes it the same way, so the model
    sees identical inputs at train and predict time.
    """
    return mel[: config.max_frames].astype(np.float16)

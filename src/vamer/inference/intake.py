"""What a prediction accepts: a path, wav bytes or an array, checked against the predictor's limits
before any feature work is spent on it.  Every refusal is a :class:`PredictionError` whose ``kind``
is a :class:`vamer.reasons.Reason` (the service's HTTP status comes from the same table).

>>> import numpy as np
>>> from vamer.features.config import AudioFeatureConfig
>>> samples = np.zeros((16_000, 2), dtype=np.float32)
>>> recording = read_recording(samples, 16_000, PredictionLimits(), AudioFeatureConfig())
>>> recording.channels, recording.seconds
(2, 1.0)
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vamer.errors import VamerError
from vamer.features.audio import AudioError, AudioInfo, frames_to_read, probe, read_samples, read_seconds
from vamer.features.config import AudioFeatureConfig
from vamer.limits import PredictionLimits
from vamer.reasons import Reason, ReasonedError


class PredictionError(ReasonedError, VamerError):
    """One input cannot be predicted; ``kind`` (a :class:`Reason`) says why."""

    @property
    def kind(self) -> Reason:
        return self.reason


@dataclass
class Recording:
    """The part of a recording the model reads, before it becomes features."""

    samples: np.ndarray  # [n, channels] or [n] float32
    rate: int
    channels: int
    seconds: float  # length of the whole recording


def checked_file(path: Path) -> Path:
    """``path`` when it is a regular, non-empty file; anything else there is a :class:`PredictionError`.

    A FIFO is refused before it is opened (reading it would wait forever), and a broken link, a
    folder or a name the file system rejects each get their own message.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise PredictionError("not_found", f"{path}: a symbolic link to a file that does not exist") from None
        raise PredictionError("not_found", f"{path}: no such file") from None
    except OSError as error:
        raise PredictionError("unreadable_file", f"{path}: cannot be read ({error.strerror or error})") from None
    if not stat.S_ISREG(info.st_mode):
        what = (
            "a folder"
            if stat.S_ISDIR(info.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "not a regular file"
        )
        raise PredictionError("not_a_file", f"{path}: is {what}, not an audio file")
    if info.st_size == 0:
        raise PredictionError("empty_wav", "the audio file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise PredictionError("unreadable_file", f"{path}: cannot be read (permission denied)")
    return path


def check_text(text: str | None, limits: PredictionLimits) -> None:
    """Refuse unusable text before any audio work is spent on the request."""
    if text is None:
        return
    if not isinstance(text, str):
        raise PredictionError("bad_text", f"text must be a string, got {type(text).__name__}")
    if len(text) > limits.max_text_chars:
        raise PredictionError(
            "text_too_long", f"text has {len(text):,} characters; the limit is {limits.max_text_chars:,}"
        )


def _check_duration(seconds: float, limits: PredictionLimits) -> None:
    if limits.max_seconds is not None and seconds > limits.max_seconds:
        raise PredictionError("too_long", f"audio is {seconds:.1f} s long; the limit is {limits.max_seconds:g} s")


def probed(data: bytes | Path) -> AudioInfo:
    """The header of a recording to predict (a file's bytes or its path), refused when the bytes
    are empty, are not readable audio, or hold no samples."""
    if isinstance(data, bytes) and not data:
        raise PredictionError("empty_wav", "the audio file is empty (0 bytes)")
    try:
        header = probe(data)
    except AudioError as error:
        raise PredictionError(error.reason, str(error)) from None
    if header.frames == 0:
        raise PredictionError("empty_wav", "the audio file holds no samples")
    return header


def read_recording(
    audio: Path | bytes | np.ndarray, sample_rate: int | None, limits: PredictionLimits, config: AudioFeatureConfig
) -> Recording:
    """Decode the part of ``audio`` that ``config``'s frames cover (as training does), within ``limits``."""
    seconds = read_seconds(config)
    if isinstance(audio, np.ndarray):
        if sample_rate is None:
            raise PredictionError("bad_audio", "an array needs its sample_rate")
        if audio.ndim not in (1, 2) or audio.size == 0:
            raise PredictionError(
                "empty_wav" if audio.size == 0 else "bad_audio",
                f"expected samples shaped [n] or [n, channels], got {audio.shape}",
            )
        _check_duration(audio.shape[0] / int(sample_rate), limits)
        read = math.ceil(seconds * int(sample_rate))
        return Recording(
            audio[:read].astype(np.float32),
            int(sample_rate),
            1 if audio.ndim == 1 else audio.shape[1],
            audio.shape[0] / int(sample_rate),
        )
    if isinstance(audio, Path):
        data: bytes | Path = audio  # decoded from the file: a long one is never read whole
    elif isinstance(audio, (bytes, bytearray, memoryview)):
        data = bytes(audio)
    else:
        raise PredictionError("bad_audio", f"audio must be a path, bytes or an array, got {type(audio).__name__}")
    header = probed(data)
    _check_duration(header.seconds, limits)  # from the header, before decoding minutes of audio
    # Bounded by samples, not only by duration: 8 channels at 655 kHz decode to far more than their
    # file size.  Only the part the model reads is decoded, refused from the header when too big.
    decoded = frames_to_read(header, seconds) * header.channels * 4
    if decoded > limits.max_decoded_mb * 1e6:
        raise PredictionError(
            "too_large",
            f"decoding {header.channels} channel(s) at {header.sample_rate:,} Hz "
            f"would take {decoded / 1e6:,.0f} MB; the limit is "
            f"{limits.max_decoded_mb:g} MB",
        )
    try:
        samples, rate = read_samples(data, seconds)
    except AudioError as error:
        raise PredictionError(error.reason, str(error)) from None
    if samples.shape[0] == 0:
        raise PredictionError("empty_wav", "the audio file holds no samples (truncated?)")
    return Recording(samples, int(rate), int(samples.shape[1]), header.seconds)

"""A long recording, read as a stream: minutes or hours of audio are never decoded whole.

:class:`LongRecording` checks a file (or uploaded bytes) from its header, then hands out blocks of
samples in order (:meth:`LongRecording.blocks`) and any stretch of it on demand
(:meth:`LongRecording.span`).  Memory stays bounded by a block, whatever the length.

>>> import io, numpy as np, soundfile
>>> buffer = io.BytesIO()
>>> soundfile.write(buffer, np.zeros(48_000, dtype=np.float32), 16_000, format="WAV")
>>> recording = LongRecording.open(buffer.getvalue(), TimelineLimits())
>>> recording.seconds, sum(len(block) for block in recording.blocks(block_s=1.0))
(3.0, 48000)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile

from vamer.features.audio import AudioError, AudioInfo, in_range, read_dtype, sound_source
from vamer.inference.intake import PredictionError, checked_file, probed
from vamer.limits import TimelineLimits

MIN_SECONDS = 0.1  # shorter than the speech detector's analysis window: nothing could be found in it


def checked_samples(block: np.ndarray, until_s: float) -> np.ndarray:
    """``block`` as float32 when one clip of it would pass (:func:`~vamer.features.audio.in_range`);
    else a PredictionError saying where, so a recording scaled by 1e30 is refused as one clip of it
    is, instead of reading as silence."""
    try:
        return in_range(block)
    except AudioError as error:
        raise PredictionError(error.reason, f"{error} (before {until_s:.1f} s)") from None


class LongRecording:
    """A recording checked from its header: ``seconds``, ``sample_rate``, ``channels``."""

    def __init__(self, source: Path | bytes, info: AudioInfo, limits: "TimelineLimits | None" = None) -> None:
        self.source, self.info = source, info
        limits = limits or TimelineLimits()
        # Frames per read that keep the decoded float32 samples within max_block_mb.
        self.frames_per_read = max(1, int(limits.max_block_mb * 1e6 // (4 * max(1, info.channels))))

    @property
    def seconds(self) -> float:
        return self.info.seconds

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def channels(self) -> int:
        return self.info.channels

    @classmethod
    def open(cls, audio: str | Path | bytes, limits: TimelineLimits) -> "LongRecording":
        """Check ``audio`` (a path or the bytes of a file) from its header; a refusal is a
        :class:`~vamer.inference.intake.PredictionError` with its reason."""
        if isinstance(audio, (str, Path)):
            source: Path | bytes = checked_file(Path(audio))
        elif isinstance(audio, (bytes, bytearray, memoryview)):
            source = bytes(audio)
        else:
            raise PredictionError("bad_audio", f"audio must be a path or bytes, got {type(audio).__name__}")
        info = probed(source)
        if info.sample_rate < limits.min_sample_rate:
            raise PredictionError(
                "sample_rate",
                f"sample rate {info.sample_rate} Hz is below {limits.min_sample_rate} Hz, the speech detector's lowest",
            )
        if info.channels > limits.max_channels:
            raise PredictionError(
                "bad_audio", f"{info.channels} channels; a timeline reads at most {limits.max_channels}"
            )
        if info.seconds < MIN_SECONDS:
            raise PredictionError(
                "too_short",
                f"{info.frames:,} sample(s) ({info.seconds * 1000:.0f} ms); a timeline "
                f"needs at least {MIN_SECONDS * 1000:.0f} ms of audio",
            )
        if limits.max_seconds is not None and info.seconds > limits.max_seconds:
            raise PredictionError(
                "too_long",
                f"audio is {info.seconds / 60:.1f} min long; the timeline limit is {limits.max_seconds / 60:g} min",
            )
        decoded = info.frames * info.channels * 4
        if limits.max_decoded_mb is not None and decoded > limits.max_decoded_mb * 1e6:
            raise PredictionError(
                "too_large",
                f"decoding {info.channels} channel(s) at {info.sample_rate:,} Hz for "
                f"{info.seconds:.0f} s would take {decoded / 1e6:,.0f} MB of samples; "
                f"the limit is {limits.max_decoded_mb:,g} MB",
            )
        return cls(source, info, limits)

    def _handle(self) -> soundfile.SoundFile:
        return soundfile.SoundFile(sound_source(self.source))

    def blocks(self, block_s: float = 30.0) -> Iterator[np.ndarray]:
        """The whole recording in order, ``block_s`` seconds at a time (less when that many samples
        would pass ``max_block_mb``): float32 ``[n, channels]`` at its own rate.  A file that cannot
        be decoded part-way is a PredictionError."""
        size = max(1, min(int(block_s * self.sample_rate), self.frames_per_read))
        try:
            with self._handle() as handle:
                while True:
                    block = handle.read(size, dtype=read_dtype(handle), always_2d=True)
                    if not len(block):
                        return
                    yield checked_samples(block, handle.tell() / self.sample_rate)
        except (RuntimeError, soundfile.LibsndfileError, ValueError) as error:
            raise PredictionError("unreadable_wav", f"cannot decode the recording: {error}") from None

    def span(self, start_s: float, end_s: float) -> np.ndarray:
        """The stretch from ``start_s`` to ``end_s``: float32 ``[n, channels]`` at its own rate, or
        ``[n]`` (its channels averaged piece by piece, as :func:`~vamer.features.audio.mono_at`
        averages them) when all its channels at once would pass ``max_block_mb``."""
        start = max(0, int(round(start_s * self.sample_rate)))
        stop = min(self.info.frames, int(round(end_s * self.sample_rate)))
        try:
            with self._handle() as handle:
                handle.seek(start)
                if stop - start <= self.frames_per_read:
                    return checked_samples(
                        handle.read(max(0, stop - start), dtype=read_dtype(handle), always_2d=True), end_s
                    )
                pieces = []
                for at in range(start, stop, self.frames_per_read):
                    piece = handle.read(min(self.frames_per_read, stop - at), dtype=read_dtype(handle), always_2d=True)
                    pieces.append(checked_samples(piece, (at + len(piece)) / self.sample_rate).mean(axis=1))
                return np.concatenate(pieces).astype(np.float32, copy=False)
        except (RuntimeError, soundfile.LibsndfileError, ValueError) as error:
            raise PredictionError("unreadable_wav", f"cannot decode {start_s:.2f}-{end_s:.2f} s: {error}") from None

"""Where the speech is: the silero-vad voice activity detector (MIT), whose ONNX model ships inside
its PyPI wheel, run over a recording as a stream.

The recording is mixed to mono and resampled to 16 kHz block by block (soxr's streaming
resampler, so block edges leave no seams), cut into silero's 32 ms windows and scored one window
at a time with the detector's state carried along; silero's own
``get_speech_timestamps_from_probs`` turns the scores into speech stretches.  Only the scores
(one float per 32 ms: 450 KB for an hour) and a coarse waveform are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import soxr
import torch

RATE = 16_000  # silero-vad's rate
WINDOW = 512  # samples it scores at a time at 16 kHz (32 ms)


def _silero():
    """The silero_vad module.  Importing it sets torch to one thread for the whole process (its
    model.py calls ``torch.set_num_threads(1)``); the count the process had is put back."""
    threads = torch.get_num_threads()
    import silero_vad

    torch.set_num_threads(threads)
    return silero_vad


@dataclass(frozen=True)
class SpeechSettings:
    """How speech is told from silence (silero's parameters, in seconds)."""

    threshold: float = 0.5  # speech probability above which a window is speech
    min_speech_s: float = 0.25  # shorter stretches of speech are dropped
    min_silence_s: float = 0.3  # a pause must last this long to end a segment
    pad_s: float = 0.1  # kept before a segment
    # ...and after it: silero ends speech at its first quiet window, which clips the fading end of
    # the last syllable (on the demo its segments ended 0.07 s before the speech the generator
    # placed, some by 0.3 s); the emotion model reads that ending too.
    pad_after_s: float = 0.2
    max_segment_s: float = 16.0  # longer speech is split (at a pause when it can): the model's window


@dataclass
class SpeechScan:
    """What one pass over a recording found."""

    probabilities: np.ndarray  # [windows] speech probability per 32 ms
    samples: int  # length at 16 kHz
    peaks: np.ndarray  # [bins] largest |sample| per bin (the waveform drawn)
    seconds_per_bin: float

    @property
    def seconds(self) -> float:
        return self.samples / RATE


class SpeechDetector:
    """silero-vad, from the wheel's ONNX model, on one CPU thread.

    >>> detector = SpeechDetector()
    >>> scan = detector.scan([np.zeros((16_000, 1), np.float32)], 16_000)
    >>> scan.probabilities.shape, detector.segments(scan, SpeechSettings())
    ((32,), [])
    """

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():
            # silero-vad 6.2 finds its model file with importlib.resources.path, deprecated since 3.11.
            warnings.filterwarnings("ignore", message="path is deprecated", category=DeprecationWarning)
            self.model = _silero().load_silero_vad(onnx=True)

    def scan(
        self,
        blocks: Iterable[np.ndarray],
        rate: int,
        bin_s: float = 0.05,
        progress: Callable[[float], None] = lambda seconds: None,
    ) -> SpeechScan:
        """Score ``blocks`` (float32 ``[n, channels]`` at ``rate``, in order) window by window;
        ``progress`` is told the seconds of audio read so far after each block."""
        self.model.reset_states()
        resampler = None if rate == RATE else soxr.ResampleStream(rate, RATE, 1, dtype="float32")
        pending = np.zeros(0, dtype=np.float32)
        scores: list[float] = []
        peaks: list[np.ndarray] = []
        per_bin = max(1, int(round(bin_s * RATE)))
        peak_rest = np.zeros(0, dtype=np.float32)
        total = read = 0
        blocks = iter(blocks)
        while True:
            block = next(blocks, None)
            last = block is None
            if block is not None:
                read += len(block)
                mono = block.mean(axis=1) if block.ndim == 2 else block
                mono = np.nan_to_num(mono.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
            else:
                mono = np.zeros(0, dtype=np.float32)
            at_rate = mono if resampler is None else resampler.resample_chunk(mono, last=last)
            total += len(at_rate)
            rest = np.concatenate([peak_rest, np.abs(at_rate)])
            whole = len(rest) // per_bin * per_bin
            if whole:
                peaks.append(rest[:whole].reshape(-1, per_bin).max(axis=1))
            peak_rest = rest[whole:]
            pending = np.concatenate([pending, at_rate])
            usable = len(pending) // WINDOW * WINDOW
            if last and len(pending) > usable:  # the tail, zero-padded as silero pads it
                pending = np.pad(pending, (0, WINDOW - (len(pending) - usable)))
                usable = len(pending)
            for start in range(0, usable, WINDOW):
                chunk = torch.from_numpy(np.ascontiguousarray(pending[start : start + WINDOW]))
                scores.append(float(self.model(chunk, RATE).item()))
            pending = pending[usable:]
            if block is not None:
                progress(read / rate)
            if last:
                break
        if len(peak_rest):
            peaks.append(np.array([peak_rest.max()], dtype=np.float32))
        return SpeechScan(
            np.asarray(scores, dtype=np.float32),
            total,
            np.concatenate(peaks) if peaks else np.zeros(0, np.float32),
            per_bin / RATE,
        )

    def segments(self, scan: SpeechScan, settings: SpeechSettings) -> list[tuple[float, float]]:
        """The speech stretches of ``scan`` as (start, end) seconds, each at most
        ``settings.max_segment_s`` long, never reaching into the next."""
        if not len(scan.probabilities):
            return []
        found = _silero().get_speech_timestamps_from_probs(
            scan.probabilities.tolist(),
            sampling_rate=RATE,
            threshold=settings.threshold,
            min_speech_duration_ms=int(settings.min_speech_s * 1000),
            max_speech_duration_s=settings.max_segment_s,
            min_silence_duration_ms=int(settings.min_silence_s * 1000),
            speech_pad_ms=int(settings.pad_s * 1000),
            return_seconds=False,
            audio_length_samples=scan.samples,
        )
        stretches = [(stretch["start"] / RATE, stretch["end"] / RATE) for stretch in found]
        more = max(0.0, settings.pad_after_s - settings.pad_s)
        ends = [start for start, _ in stretches[1:]] + [scan.seconds]
        return [(start, min(end + more, following)) for (start, end), following in zip(stretches, ends)]

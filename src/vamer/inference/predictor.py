"""Predict emotions of new recordings with a bundle written by ``vamer run``.

Usage (the tests run this on a bundle they train; see tests/inference)::

    from vamer import Predictor
    predictor = Predictor.from_bundle("build/demo-run/run/bundle")
    result = predictor.predict("clip.wav", text="아 친구들도?")
    result["label"], result["probabilities"]["neutral"]      # ('neutral', 0.71)

Everything that turns a recording into model inputs comes from the bundle (audio feature settings,
text encoder, maximum lengths) and runs through the same functions training used
(:func:`vamer.features.audio.stored_mel`, :func:`vamer.features.text.stored_tokens`), so train-time
and predict-time inputs are identical for the same file.

A result (``predict`` returns it as a dict):

    label            the most probable class
    probabilities    class -> probability
    arousal, valence predicted ratings (1-5), or None when the bundle's regressor was not trained
                     (valence is also None without text: it is read from the words)
    duration_s       seconds of audio the model used (clips are cropped to the preset's frames)
    audio_seconds    length of the whole recording
    truncated        True when the recording was longer than what the model reads
    sample_rate, channels   of the recording (it is downmixed and resampled to the bundle's rate)
    text, text_source       the cleaned transcript used and where it came from: argument | file | none
    audio_only       True when there was no text (the model ran with an empty text mask; no valence)
    notes            anything the user should know about this prediction
    engine           torch | onnx
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from vamer.data.transcripts import TranscriptError, clean_transcript, read_transcript
from vamer.errors import VamerError
from vamer.features.audio import (AudioError, frames_to_read, log_mel, mono_at, probe, read_samples, read_seconds,
                                  stored_mel, to_model_input)
from vamer.features.batching import trimmed_length
from vamer.features.functionals import egemaps
from vamer.features.upstream import model_states
from vamer.features.text import TrainableTokens, make_text_encoder, stored_tokens
from vamer.inference.bundle import Bundle, read_bundle
from vamer.inference.export import check_onnx, onnx_session
from vamer.inference.graph import OUTPUTS, build_graph, graph_inputs

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


class PredictionError(VamerError):
    """One input cannot be predicted; ``kind`` says why (the service maps it to an HTTP status)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """What a prediction accepts; the service exposes these as options."""

    max_seconds: float | None = 60.0         # longer recordings are refused (None: no limit)
    max_decoded_mb: float = 64.0             # float32 samples decoded for the part the model reads
    min_sample_rate: int | None = None       # None: the bundle's rate (lower rates lack the mel bands)
    max_text_chars: int = 2_000


@dataclass
class Prepared:
    """One input turned into model inputs, plus what the result reports about it."""

    audio: np.ndarray                        # [2, max_frames, n_mels] float32
    audio_mask: np.ndarray                   # [max_frames] bool
    text: np.ndarray                         # [L, d] float32 or [L] int64
    text_mask: np.ndarray                    # [L] bool
    info: dict[str, Any] = field(default_factory=dict)
    functionals: np.ndarray | None = None    # [F] float32 eGeMAPS, when the bundle's model reads them
    upstream: np.ndarray | None = None       # [layers, hidden] float32, with an audio encoder


class TorchEngine:
    name = "torch"

    def __init__(self, bundle: Bundle, threads: int | None = None, device: str = "cpu") -> None:
        if threads:
            torch.set_num_threads(threads)  # process-wide: PyTorch has one intra-op setting
        self.device = torch.device(device)
        self.graph = build_graph(bundle).to(self.device)
        self.inputs = graph_inputs(bundle)

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = self.graph(**{name: torch.from_numpy(inputs[name]).to(self.device) for name in self.inputs})
        return {name: value.cpu().numpy() for name, value in zip(OUTPUTS, outputs)}


class OnnxEngine:
    """The exported graph under onnxruntime; it takes full-length inputs (its shapes are fixed)."""

    name = "onnx"

    def __init__(self, bundle: Bundle, path: str | Path, threads: int | None = None) -> None:
        self.session = onnx_session(path, threads)
        check_onnx(self.session, bundle, path)
        self.inputs = graph_inputs(bundle)

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(list(OUTPUTS), {name: inputs[name] for name in self.inputs})
        return dict(zip(OUTPUTS, outputs))


def _exists(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _checked_file(path: Path) -> Path:
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
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) else \
            "not a regular file"
        raise PredictionError("not_a_file", f"{path}: is {what}, not an audio file")
    if info.st_size == 0:
        raise PredictionError("empty_wav", "the audio file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise PredictionError("unreadable_file", f"{path}: cannot be read (permission denied)")
    return path


class Predictor:
    """A loaded bundle: ``predict`` one recording, ``predict_many`` a list (batched)."""

    def __init__(self, bundle: Bundle, engine: str = "torch", onnx_path: str | Path | None = None,
                 limits: Limits | None = None, threads: int | None = None, device: str = "cpu") -> None:
        self.bundle = bundle
        self.classes = bundle.classes
        self.audio_config = bundle.preset.audio_features
        self.max_length = bundle.preset.text.max_length
        self.limits = limits or Limits()
        text = bundle.preset.text
        self.text_encoder = make_text_encoder(text.encoder, self.max_length, text.sentence_token)
        if isinstance(self.text_encoder, TrainableTokens):
            self.text_encoder.vocabulary = dict(bundle.vocabulary or {})
        if device != "cpu" and engine != "torch":
            raise VamerError(f"--device {device} needs --engine torch (the ONNX engine runs on the CPU)")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise VamerError(f"--device {device}: this machine has no CUDA GPU that PyTorch can use")
        if device == "mps" and not torch.backends.mps.is_available():
            raise VamerError("--device mps: Apple's Metal backend is not available here")
        if engine == "torch":
            try:
                self.engine: TorchEngine | OnnxEngine = TorchEngine(bundle, threads, device)
            except RuntimeError as error:  # e.g. an unknown device string
                raise VamerError(f"--device {device}: {error}") from None
        elif engine == "onnx":
            path = Path(onnx_path) if onnx_path else bundle.folder / "model.onnx"
            if not path.is_file():
                raise VamerError(f"no ONNX model at {path}: run `vamer export --bundle {bundle.folder} --onnx {path}`")
            self.engine = OnnxEngine(bundle, path, threads)
        else:
            raise VamerError(f"unknown engine {engine!r}: use torch or onnx")

    @classmethod
    def from_bundle(cls, path: str | Path, engine: str = "torch", onnx_path: str | Path | None = None,
                    limits: Limits | None = None, threads: int | None = None, device: str = "cpu") -> "Predictor":
        """Open and check a bundle folder (version, files, settings), then build the engine.

        ``threads``: intra-op threads of the model (default: all cores).  A service running N
        predictions at once should give each cores / N, or the threads fight for the cores.
        ``device``: where the torch engine runs (cpu, cuda, cuda:1, mps); features stay on the CPU."""
        return cls(read_bundle(path), engine, onnx_path, limits, threads, device)

    # -- inputs ---------------------------------------------------------------------------------

    @property
    def min_sample_rate(self) -> int:
        return self.limits.min_sample_rate or self.audio_config.sample_rate

    def prepare(self, audio: str | Path | bytes | np.ndarray, text: str | None = None,
                sample_rate: int | None = None) -> Prepared:
        """Model inputs of one recording; raises :class:`PredictionError` with a clear message."""
        self._check_text(text)
        text_source = "argument" if text is not None else "none"
        notes: list[str] = []
        if isinstance(audio, (str, Path)):
            path = Path(audio)
            path = _checked_file(path)
            transcript = path.with_suffix(".txt")
            if text is None and _exists(transcript):
                try:
                    text, text_source = read_transcript(transcript), "file"
                    self._check_text(text)
                except (OSError, TranscriptError) as error:
                    notes.append(f"transcript {transcript.name} unreadable ({error}); audio only")
            audio = path
        samples, rate, channels, seconds = self._samples(audio, sample_rate)
        if rate < self.min_sample_rate:
            raise PredictionError("sample_rate", f"sample rate {rate} Hz is below {self.min_sample_rate} Hz: the "
                                                 f"model's mel bands reach {self.audio_config.fmax:g} Hz, which needs "
                                                 f"at least {self.min_sample_rate} Hz")
        if rate != self.audio_config.sample_rate:
            notes.append(f"resampled from {rate} Hz to {self.audio_config.sample_rate} Hz")
        if channels > 1:
            notes.append(f"{channels} channels averaged to mono")
        try:
            mono = mono_at(samples, rate, self.audio_config.sample_rate)
            mel = log_mel(mono, self.audio_config)
        except AudioError as error:
            reason = error.reason.replace("_", " ")
            raise PredictionError(error.reason, f"audio cannot be used ({reason}): {error}") from None
        audio_input, audio_mask = to_model_input(stored_mel(mel, self.audio_config).astype(np.float32),
                                                 self.audio_config.max_frames)
        used = min(seconds, self.audio_config.max_frames * self.audio_config.hop_length / self.audio_config.sample_rate)
        if used < seconds:
            notes.append(f"only the first {used:.1f} s of {seconds:.1f} s are used (the preset reads "
                         f"{self.audio_config.max_frames} frames)")
        cleaned = clean_transcript(text or "")
        vectors, text_mask = self._encode(cleaned)
        if not cleaned:
            notes.append("no text: predicted from audio alone (empty text mask); valence, read from the words, "
                         "is not given")
            text_source = "none"
        elif int(text_mask.sum()) >= self.max_length:
            notes.append(f"text cut to the model's {self.max_length} tokens")
        info = {"duration_s": round(used, 3), "audio_seconds": round(seconds, 3), "truncated": used < seconds,
                "sample_rate": rate, "channels": channels, "text": cleaned, "text_source": text_source,
                "audio_only": not cleaned, "notes": notes}
        functionals = None
        if self.audio_config.functionals == "egemaps":
            functionals = egemaps(mono, self.audio_config.sample_rate)
        upstream = None
        if self.audio_config.upstream:
            upstream = model_states(mono, self.audio_config).astype(np.float32)   # as training stored it
        return Prepared(audio_input, audio_mask, vectors, text_mask, info, functionals, upstream)

    def _check_text(self, text: str | None) -> None:
        """Refuse unusable text before any audio work is spent on the request."""
        if text is None:
            return
        if not isinstance(text, str):
            raise PredictionError("bad_text", f"text must be a string, got {type(text).__name__}")
        if len(text) > self.limits.max_text_chars:
            raise PredictionError("text_too_long", f"text has {len(text):,} characters; the limit is "
                                                   f"{self.limits.max_text_chars:,}")

    def _check_duration(self, seconds: float) -> None:
        if self.limits.max_seconds is not None and seconds > self.limits.max_seconds:
            raise PredictionError("too_long", f"audio is {seconds:.1f} s long; the limit is "
                                              f"{self.limits.max_seconds:g} s")

    def _samples(self, audio: bytes | np.ndarray, sample_rate: int | None) -> tuple[np.ndarray, int, int, float]:
        """(samples ``[n]`` or ``[n, channels]`` of the part the model reads, rate, channels, whole seconds)."""
        if isinstance(audio, np.ndarray):
            if sample_rate is None:
                raise PredictionError("bad_audio", "an array needs its sample_rate")
            if audio.ndim not in (1, 2) or audio.size == 0:
                raise PredictionError("empty_wav" if audio.size == 0 else "bad_audio",
                                      f"expected samples shaped [n] or [n, channels], got {audio.shape}")
            self._check_duration(audio.shape[0] / int(sample_rate))
            read = math.ceil(read_seconds(self.audio_config) * int(sample_rate))  # as for files
            return (audio[:read].astype(np.float32), int(sample_rate), 1 if audio.ndim == 1 else audio.shape[1],
                    audio.shape[0] / int(sample_rate))
        if isinstance(audio, Path):
            data: bytes | Path = audio  # decoded from the file: a long one is never read whole
        elif isinstance(audio, (bytes, bytearray, memoryview)):
            data = bytes(audio)
        else:
            raise PredictionError("bad_audio", f"audio must be a path, bytes or an array, got {type(audio).__name__}")
        if isinstance(data, bytes) and not data:
            raise PredictionError("empty_wav", "the audio file is empty (0 bytes)")
        try:
            header = probe(data)
        except AudioError as error:
            raise PredictionError("unreadable_wav", str(error)) from None
        if header.frames == 0:
            raise PredictionError("empty_wav", "the audio file holds no samples")
        self._check_duration(header.seconds)  # from the header, before decoding minutes of audio
        # Bounded by samples, not only by duration: 8 channels at 655 kHz decode to far more than
        # their file size.  Only the part the model reads is decoded, and that is refused from the
        # header when it would not fit the budget.
        seconds = read_seconds(self.audio_config)
        decoded = frames_to_read(header, seconds) * header.channels * 4
        if decoded > self.limits.max_decoded_mb * 1e6:
            raise PredictionError("too_large", f"decoding {header.channels} channel(s) at {header.sample_rate:,} Hz "
                                               f"would take {decoded / 1e6:,.0f} MB; the limit is "
                                               f"{self.limits.max_decoded_mb:g} MB")
        try:
            samples, rate = read_samples(data, seconds)
        except AudioError as error:
            raise PredictionError("unreadable_wav", str(error)) from None
        if samples.shape[0] == 0:
            raise PredictionError("empty_wav", "the audio file holds no samples (truncated?)")
        return samples, int(rate), int(samples.shape[1]), header.seconds

    def _encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        vectors, mask = self.text_encoder.encode([text])
        if isinstance(self.text_encoder, TrainableTokens):
            return vectors[0], mask[0]
        return stored_tokens(vectors[0]).astype(np.float32) * mask[0, :, None], mask[0]

    # -- model ------------------------------------------------------------------------------------

    def run(self, prepared: Sequence[Prepared]) -> list[dict[str, Any]]:
        """One batch through the engine; the results in input order."""
        inputs = {name: np.stack([getattr(p, name) for p in prepared]) for name in self.engine.inputs}
        if isinstance(self.engine, TorchEngine):
            # Everything past the longest clip and text is padding: cut it (outputs do not change).
            frames = trimmed_length(int(inputs["audio_mask"].sum(axis=1).max()), inputs["audio_mask"].shape[1])
            tokens = trimmed_length(int(inputs["text_mask"].sum(axis=1).max()), inputs["text_mask"].shape[1])
            inputs["audio"], inputs["audio_mask"] = inputs["audio"][:, :, :frames], inputs["audio_mask"][:, :frames]
            inputs["text"], inputs["text_mask"] = inputs["text"][:, :tokens], inputs["text_mask"][:, :tokens]
        outputs = self.engine(inputs)
        results = []
        for row, item in enumerate(prepared):
            probabilities = outputs["probabilities"][row]
            results.append({
                "label": self.classes[int(np.argmax(probabilities))],
                "probabilities": {c: round(float(p), 6) for c, p in zip(self.classes, probabilities)},
                "arousal": self._rating("arousal", outputs, row),
                # Valence is read from the words: without text the regressor would only echo its
                # empty-mask output (seen: 0.86, off the 1-5 scale), so there is none.
                "valence": None if item.info["audio_only"] else self._rating("valence", outputs, row),
                **item.info, "engine": self.engine.name,
            })
        return results

    def _rating(self, name: str, outputs: dict[str, np.ndarray], row: int) -> float | None:
        return round(float(outputs[name][row]), 4) if self.bundle.regressors.get(name, False) else None

    def predict(self, audio: str | Path | bytes | np.ndarray, text: str | None = None,
                sample_rate: int | None = None) -> dict[str, Any]:
        """Predict one recording (a path, wav bytes, or samples with their ``sample_rate``).

        Without ``text``, a ``.txt`` beside a wav path is used; with neither, the model runs on the
        audio alone and the result says so.  Raises :class:`PredictionError` for unusable input.
        """
        return self.run([self.prepare(audio, text, sample_rate)])[0]

    def predict_many(self, inputs: Iterable[tuple[Any, str | None]], batch_size: int = 16,
                     progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """Predict ``(audio, text)`` pairs in batches.  An input that fails gets a result with
        ``error`` (and no label) and the others go on; ``progress(n)`` is called as inputs finish."""
        results: list[dict[str, Any] | None] = []
        pending: list[tuple[int, Prepared]] = []

        def flush() -> None:
            for (index, _), result in zip(pending, self.run([p for _, p in pending])):
                results[index] = result
            if progress:
                progress(len(pending))
            pending.clear()

        for audio, text in inputs:
            results.append(None)
            try:
                pending.append((len(results) - 1, self.prepare(audio, text)))
            except PredictionError as error:
                results[-1] = {"error": str(error), "error_kind": error.kind}
            except Exception as error:  # noqa: BLE001 - one input must never cost the others their rows
                results[-1] = {"error": f"{type(error).__name__}: {error}", "error_kind": "internal_error"}
            if results[-1] is not None and progress:
                progress(1)
            if len(pending) >= batch_size:
                flush()
        if pending:
            flush()
        return [r for r in results if r is not None]


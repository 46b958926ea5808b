"""Predict emotions of new recordings with a bundle written by ``vamer run``.

Usage (the tests run this on a bundle they train; see tests/inference)::

    from vamer.inference import Predictor
    predictor = Predictor.from_bundle("build/demo-run/run/bundle")
    result = predictor.predict("clip.wav", text="아 친구들도?")
    result.label, result.probabilities["neutral"]      # ('neutral', 0.71)

A predictor is a facade over three parts: the intake (:mod:`vamer.inference.intake`: what a
prediction accepts, within its limits), the input preparer (:class:`vamer.features.inputs.InputPreparer`,
built from the bundle's settings: the same code that made the training inputs, so train-time and
predict-time inputs are identical for the same file) and an engine (:mod:`vamer.inference.engines`:
torch or ONNX).

A result is a :class:`vamer.inference.result.PredictionResult` (its fields say what each one holds):
what ``predict`` and ``predict_many`` return, what ``vamer predict``'s rows are made from and what
the service answers; ``error`` and ``error_kind`` are empty on success.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from vamer.data.transcripts import TranscriptError, clean_transcript, read_transcript
from vamer.features.audio import AudioError, mono_at
from vamer.features.inputs import AudioInputs, InputPreparer, ModelInputs, stack_batch
from vamer.features.speakers import SpeakerStatistics, uses_context
from vamer.inference.bundle import Bundle, read_bundle
from vamer.inference.engines import make_engine
from vamer.inference.intake import PredictionError, check_text, checked_file, read_recording
from vamer.inference.profiles import ProfileStore, default_profiles_path, model_identity
from vamer.inference.result import PredictionResult
from vamer.limits import PredictionLimits
from vamer.reasons import Reason
from vamer.speech import DEFAULT_LANGUAGE, Recognition, load_recognizer
from vamer.speech.whisper import SAMPLE_RATE as ASR_SAMPLE_RATE

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
__all__ = ["Predictor", "PredictionError", "PredictionLimits", "Prepared", "SpeakerInput", "AUDIO_SUFFIXES"]


@dataclass
class Prepared:
    """One input as the model reads it, plus what the result reports about it."""

    inputs: ModelInputs  # valid frames and tokens only
    info: dict[str, Any]
    frozen: tuple[np.ndarray, np.ndarray] | None = None  # raw (upstream, functionals), before speaker context


@dataclass(frozen=True)
class SpeakerInput:
    """Who speaks in one input, for speaker context: the speaker's name and statistics (None: too few
    clips of them, so the population's), and this clip's raw frozen inputs when computed already."""

    speaker: str
    statistics: SpeakerStatistics | None
    frozen: tuple[np.ndarray, np.ndarray] | None = None


def _exists(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


@dataclass(frozen=True)
class PredictorSettings:
    """How a bundle becomes a :class:`Predictor`, as ``vamer predict`` and ``vamer serve`` are told:
    the bundle folder, the engine (torch, or onnx with the ``onnx`` file), the input limits, the
    torch device, and the recogniser (and its language) for clips without text."""

    bundle: Path
    engine: str = "torch"
    onnx: Path | None = None
    limits: PredictionLimits = PredictionLimits()
    device: str = "cpu"
    asr: str = "none"
    asr_language: str = DEFAULT_LANGUAGE

    def load(self, threads: int | None = None) -> "Predictor":
        """The predictor (``threads``: the model's intra-op threads; default all cores)."""
        return Predictor.from_bundle(
            self.bundle, self.engine, self.onnx, self.limits, threads, self.device, self.asr, self.asr_language
        )


class Predictor:
    """A loaded bundle: ``predict`` one recording, ``predict_many`` a list (batched)."""

    def __init__(
        self,
        bundle: Bundle,
        engine: str = "torch",
        onnx_path: str | Path | None = None,
        limits: PredictionLimits | None = None,
        threads: int | None = None,
        device: str = "cpu",
        asr: str = "none",
        asr_language: str = DEFAULT_LANGUAGE,
    ) -> None:
        self.bundle = bundle
        self.classes = bundle.classes
        self.audio_config = bundle.preset.audio_features
        self.max_length = bundle.preset.text.max_length
        self.limits = limits or PredictionLimits()
        self.preparer = InputPreparer(self.audio_config, bundle.preset.text, vocabulary=bundle.vocabulary)
        self.engine = make_engine(bundle, engine, onnx_path, threads, device)
        # Speech recognition fills the text of a clip that has none (never a given text's place).
        self.recognizer = load_recognizer(asr, asr_language)

    @classmethod
    def from_bundle(
        cls,
        path: str | Path,
        engine: str = "torch",
        onnx_path: str | Path | None = None,
        limits: PredictionLimits | None = None,
        threads: int | None = None,
        device: str = "cpu",
        asr: str = "none",
        asr_language: str = DEFAULT_LANGUAGE,
    ) -> "Predictor":
        """Open and check a bundle folder (version, files, settings), then build the engine.

        ``threads``: intra-op threads of the model (default: all cores).  A service running N
        predictions at once should give each cores / N, or the threads fight for the cores.
        ``device``: where the torch engine runs (cpu, cuda, cuda:1, mps); features stay on the CPU.
        ``asr``: the recogniser that gives words to a clip without text (whisper-base; default none),
        in ``asr_language``."""
        return cls(read_bundle(path), engine, onnx_path, limits, threads, device, asr, asr_language)

    # -- inputs ---------------------------------------------------------------------------------

    @property
    def min_sample_rate(self) -> int:
        return self.limits.min_sample_rate or self.audio_config.sample_rate

    @property
    def speaker_norm(self) -> str:
        """How the bundle normalises the frozen inputs per speaker: none, z or mean."""
        return self.audio_config.speaker_norm

    def read(self, audio: str | Path | bytes | np.ndarray, sample_rate: int | None = None):
        """A recording checked and decoded as a prediction reads it (:class:`PredictionError` if not)."""
        if isinstance(audio, (str, Path)):
            audio = checked_file(Path(audio))
        recording = read_recording(audio, sample_rate, self.limits, self.audio_config)
        if recording.rate < self.min_sample_rate:
            raise PredictionError(
                "sample_rate",
                f"sample rate {recording.rate} Hz is below {self.min_sample_rate} "
                f"Hz: the model's mel bands reach {self.audio_config.fmax:g} Hz, "
                f"which needs at least {self.min_sample_rate} Hz",
            )
        return recording

    def frozen_inputs(
        self, audio: str | Path | bytes | np.ndarray, sample_rate: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One recording's raw frozen inputs (upstream, functionals): what speaker statistics are made of."""
        recording = self.read(audio, sample_rate)
        try:
            return self.preparer.frozen(recording.samples, recording.rate)
        except AudioError as error:
            raise PredictionError(error.reason, f"audio cannot be used ({error.reason.meaning}): {error}") from None

    def speaker_statistics(self, frozen: Sequence[tuple[np.ndarray, np.ndarray]]) -> SpeakerStatistics | None:
        """A speaker's statistics from their clips' raw frozen inputs; None below the bundle's minimum
        (``speaker_min_clips``), where the population's serve instead."""
        if len(frozen) < self.audio_config.speaker_min_clips:
            return None
        return SpeakerStatistics.of(np.stack([up for up, _ in frozen]), np.stack([fun for _, fun in frozen]))

    def enrol(self, clips: Iterable[str | Path | bytes | np.ndarray]) -> tuple[SpeakerStatistics, list[str]]:
        """A speaker's statistics from a few of their clips (no labels): a profile.  Returns them and a
        message per clip that could not be used; raises :class:`PredictionError` (``too_few_clips``)
        when fewer than the bundle's minimum could, or when the bundle does not use speaker context."""
        if not uses_context(self.speaker_norm):
            raise PredictionError(
                "too_few_clips",
                "this bundle does not normalise per speaker (its preset has "
                "speaker_norm none): a profile would change nothing",
            )
        frozen, failed = [], []
        for index, clip in enumerate(clips):
            try:
                frozen.append(self.frozen_inputs(clip))
            except PredictionError as error:
                failed.append(f"clip {index + 1}{f' ({clip})' if isinstance(clip, (str, Path)) else ''}: {error}")
        statistics = self.speaker_statistics(frozen)
        if statistics is None:
            raise PredictionError(
                "too_few_clips",
                f"{len(frozen)} usable clip(s); a profile needs at least "
                f"{self.audio_config.speaker_min_clips}" + (f" ({'; '.join(failed[:3])})" if failed else ""),
            )
        return statistics, failed

    def profiles(self, path: str | Path | None = None) -> ProfileStore:
        """The speaker profiles file ``path`` (default :func:`default_profiles_path`) for this bundle."""
        preset = self.bundle.preset
        return ProfileStore(
            path or default_profiles_path(),
            model_identity(
                self.bundle.manifest.get("audio_encoder"), preset.audio_features.functionals, self.speaker_norm
            ),
        )

    def profile(self, store: ProfileStore, speaker: str, owner: str = "") -> SpeakerStatistics:
        """``owner``'s enrolled profile ``speaker`` from ``store``, checked against this bundle."""
        population = self.bundle.population
        if population is None:
            raise PredictionError(
                "unknown_speaker",
                "this bundle does not normalise per speaker (its preset has speaker_norm none): profiles do not apply",
            )
        return store.load(owner, speaker, population.upstream_mean.shape, len(population.functionals_mean))

    def with_speaker(self, prepared: Prepared, speaker: str | None, statistics: SpeakerStatistics | None) -> Prepared:
        """``prepared`` normalised by ``statistics`` (a speaker's), or by the bundle's population
        statistics when None: a clip with no speaker context.  A bundle without speaker context
        leaves it as it is."""
        population = self.bundle.population
        if population is None or prepared.frozen is None:
            return prepared
        own = statistics.toward(population, self.audio_config.speaker_prior_clips) if statistics else None
        upstream, functionals = (own or population).normalise(*prepared.frozen, self.speaker_norm)
        info = dict(
            prepared.info, speaker=speaker, speaker_context="speaker" if statistics is not None else "population"
        )
        if speaker and statistics is None:
            info["notes"] = [
                *info["notes"],
                f"speaker {speaker}: fewer than {self.audio_config.speaker_min_clips} "
                "clips, so no statistics of their own (the population's were used)",
            ]
        return Prepared(dict(prepared.inputs, upstream=upstream, functionals=functionals), info, prepared.frozen)

    def prepare(
        self,
        audio: str | Path | bytes | np.ndarray,
        text: str | None = None,
        sample_rate: int | None = None,
        *,
        speaker: SpeakerInput | None = None,
        heard: Recognition | None = None,
    ) -> Prepared:
        """Model inputs of one recording; raises :class:`PredictionError` with a clear message.
        ``speaker``: who speaks (their statistics normalise the frozen inputs); without, the
        bundle's population statistics do.  ``heard``: what the recogniser already heard in this
        audio (a timeline recognises its segments together); used, instead of recognising again,
        when there is no text."""
        check_text(text, self.limits)
        text_source = "given" if text is not None else "none"
        notes: list[str] = []
        if isinstance(audio, (str, Path)):
            audio = checked_file(Path(audio))
            transcript = audio.with_suffix(".txt")
            if text is None and _exists(transcript):
                try:
                    text, text_source = read_transcript(transcript), "given"
                    check_text(text, self.limits)
                    notes.append(f"text from {transcript.name}")
                except (OSError, TranscriptError) as error:
                    notes.append(f"transcript {transcript.name} unreadable ({error}); audio only")
        recording = self.read(audio, sample_rate)
        if recording.rate != self.audio_config.sample_rate:
            notes.append(f"resampled from {recording.rate} Hz to {self.audio_config.sample_rate} Hz")
        if recording.channels > 1:
            notes.append(f"{recording.channels} channels averaged to mono")
        try:
            clip: AudioInputs = self.preparer.audio(
                recording.samples, recording.rate, speaker.frozen if speaker is not None else None
            )
        except AudioError as error:
            raise PredictionError(error.reason, f"audio cannot be used ({error.reason.meaning}): {error}") from None
        # Recognition only after the audio passed its checks (a NaN reached the recogniser otherwise).
        if not clean_transcript(text or ""):
            if heard is None and self.recognizer is not None:
                heard = self.recognizer.transcribe(mono_at(recording.samples, recording.rate, ASR_SAMPLE_RATE))
            if heard is not None:
                text, text_source = self._words(heard, notes)
        seconds = recording.seconds
        config = self.audio_config
        used = min(seconds, config.max_frames * config.hop_length / config.sample_rate)
        if used < seconds:
            notes.append(
                f"only the first {used:.1f} s of {seconds:.1f} s are used (the preset reads {config.max_frames} frames)"
            )
        cleaned = clean_transcript(text or "")
        tokens, text_mask = self.preparer.text(cleaned)
        if not cleaned:
            notes.append(
                "no text: predicted from audio alone (empty text mask); valence, read from the words, is not given"
            )
            text_source = "none"
        elif int(text_mask.sum()) >= self.max_length:
            notes.append(f"text cut to the model's {self.max_length} tokens")
        info = {
            "duration_s": round(used, 3),
            "audio_seconds": round(seconds, 3),
            "truncated": used < seconds,
            "sample_rate": recording.rate,
            "channels": recording.channels,
            "text": cleaned,
            "text_source": text_source,
            "audio_only": not cleaned,
            "notes": notes,
        }
        prepared = Prepared(clip.model_inputs(tokens, text_mask), info, (clip.upstream, clip.functionals))
        return self.with_speaker(
            prepared, speaker.speaker if speaker else None, speaker.statistics if speaker else None
        )

    def _words(self, heard: Recognition, notes: list[str]) -> tuple[str | None, str]:
        """The words a recogniser heard, and the text source (asr, or none when it heard nothing);
        a note says which."""
        words = clean_transcript(heard.text)
        name = self.recognizer.name if self.recognizer is not None else "speech recognition"
        if not words:
            notes.append(f"speech recognition ({name}) heard no words")
            return None, "none"
        notes.append(f"text recognised by {name} ({heard.language})")
        return words, "asr"

    # -- model ------------------------------------------------------------------------------------

    def run(self, prepared: Sequence[Prepared]) -> list[PredictionResult]:
        """One batch through the engine; the results in input order."""
        outputs = self.engine(stack_batch([p.inputs for p in prepared]))
        results = []
        for row, item in enumerate(prepared):
            probabilities = outputs["probabilities"][row]
            if not all(
                np.isfinite(outputs[name][row]).all()
                for name in ("probabilities", "arousal", "valence")
                if name in outputs
            ):
                # NaN probabilities once came back as label "neutral" (argmax of NaNs) with nulls.
                results.append(
                    PredictionResult.failure(
                        Reason.non_finite_output, f"{Reason.non_finite_output.meaning} (engine {self.engine.name})"
                    )
                )
                continue
            results.append(
                PredictionResult(
                    **{
                        "label": self.classes[int(np.argmax(probabilities))],
                        "probabilities": {c: round(float(p), 6) for c, p in zip(self.classes, probabilities)},
                        "arousal": self._rating("arousal", outputs, row),
                        # Valence is read from the words: without text the regressor would only echo its
                        # empty-mask output (seen: 0.86, off the 1-5 scale), so there is none.
                        "valence": None if item.info["audio_only"] else self._rating("valence", outputs, row),
                        **item.info,
                        "engine": self.engine.name,
                    }
                )
            )
        return results

    def _rating(self, name: str, outputs: dict[str, np.ndarray], row: int) -> float | None:
        return round(float(outputs[name][row]), 4) if self.bundle.regressors.get(name, False) else None

    def predict(
        self,
        audio: str | Path | bytes | np.ndarray,
        text: str | None = None,
        sample_rate: int | None = None,
        speaker: str | None = None,
        statistics: SpeakerStatistics | None = None,
    ) -> PredictionResult:
        """Predict one recording (a path, wav bytes, or samples with their ``sample_rate``).

        Without ``text``, a ``.txt`` beside a wav path is used; with neither, the model runs on the
        audio alone and the result says so.  ``statistics``: the speaker's (an enrolled profile,
        :meth:`enrol`), named ``speaker``.  Raises :class:`PredictionError` for unusable input.
        """
        who = SpeakerInput(speaker or "", statistics) if (speaker or statistics is not None) else None
        result = self.run([self.prepare(audio, text, sample_rate, speaker=who)])[0]
        if result.error:
            raise PredictionError(result.error_kind, result.error)
        return result

    def predict_many(
        self, inputs: Iterable[tuple[Any, ...]], batch_size: int = 16, progress: Callable[[int], None] | None = None
    ) -> list[PredictionResult]:
        """Predict ``(audio, text)`` pairs (or ``(audio, text, SpeakerInput)``) in batches.  An input
        that fails gets a result with ``error`` (and no label) and the others go on; ``progress(n)``
        is called as inputs finish."""
        return list(self.iter_predictions(inputs, batch_size, progress))

    def iter_predictions(
        self, inputs: Iterable[tuple[Any, ...]], batch_size: int = 16, progress: Callable[[int], None] | None = None
    ) -> Iterator[PredictionResult]:
        """:meth:`predict_many` as a stream: each result, in input order, as soon as its batch ran
        (a long manifest's results can be written while the rest are still predicted)."""
        results: list[PredictionResult | None] = []
        pending: list[tuple[int, Prepared]] = []
        given = 0

        def flush() -> None:
            for (index, _), result in zip(pending, self.run([p for _, p in pending])):
                results[index] = result
            if progress:
                progress(len(pending))
            pending.clear()

        for audio, text, *who in inputs:
            results.append(None)
            try:
                pending.append((len(results) - 1, self.prepare(audio, text, speaker=who[0] if who else None)))
            except PredictionError as error:
                results[-1] = PredictionResult.failure(error.kind, str(error))
            except Exception as error:  # noqa: BLE001 - one input must never cost the others their rows
                results[-1] = PredictionResult.failure(Reason.internal_error, f"{type(error).__name__}: {error}")
            if results[-1] is not None and progress:
                progress(1)
            if len(pending) >= batch_size:
                flush()
            while given < len(results) and results[given] is not None:
                yield results[given]
                results[given] = None  # given away: nothing holds a long stream's results
                given += 1
        if pending:
            flush()
        while given < len(results):
            yield results[given]
            given += 1

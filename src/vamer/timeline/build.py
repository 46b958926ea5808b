"""A long recording -> a timeline: find the speech (:mod:`vamer.timeline.speech`), give each speech
segment the words a transcript puts there (:mod:`vamer.timeline.transcript`) or, without one, the
words the recogniser hears in it (all segments packed together: :mod:`vamer.speech`), and predict
each segment with the bundle's model exactly as one clip is predicted.

Two passes over the recording, both streamed: one to score speech, one that reads only the speech
segments back, a batch at a time.  ``progress(phase, done, total)`` is told how far each got
(``"speech"`` in seconds of audio, ``"words"`` (recognised when no transcript was given),
``"speakers"`` and ``"emotion"`` in segments).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vamer.features.audio import AudioError, mono_at
from vamer.features.voice import GE2E_SPEC, STATE_ROWS, load_ge2e
from vamer.features.voice import SAMPLE_RATE as GE2E_RATE
from vamer.inference.intake import PredictionError
from vamer.inference.predictor import Predictor, SpeakerInput
from vamer.inference.result import PredictionResult
from vamer.limits import TimelineLimits
from vamer.speech import Recognition
from vamer.speech.whisper import SAMPLE_RATE as ASR_SAMPLE_RATE
from vamer.timeline.recording import LongRecording
from vamer.timeline.result import Moment, Timeline, TimelineSegment, TimelineSummary, Waveform
from vamer.timeline.speakers import cluster_speakers
from vamer.timeline.speech import SpeechDetector, SpeechSettings
from vamer.timeline.transcript import Cue, check_cues_fit, words_for

MAX_WAVEFORM_BINS = 4_000  # what a page or a figure draws; finer bins are merged
BATCH = 16

Progress = Callable[[str, float, float], None]


def _quiet(phase: str, done: float, total: float) -> None:
    pass


def model_window_s(predictor: Predictor) -> float:
    """Seconds of audio the model reads of one clip: longer speech is split to fit."""
    config = predictor.audio_config
    return config.max_frames * config.hop_length / config.sample_rate


def open_recording(predictor: Predictor, audio: str | Path | bytes, limits: TimelineLimits) -> LongRecording:
    """``audio`` checked from its header for a timeline with ``predictor``: the recording's own
    checks, and a sample rate the model's mel bands can use (one clip below it is refused too)."""
    recording = LongRecording.open(audio, limits)
    if recording.sample_rate < predictor.min_sample_rate:
        raise PredictionError(
            "sample_rate",
            f"sample rate {recording.sample_rate} Hz is below "
            f"{predictor.min_sample_rate} Hz: the model's mel bands reach "
            f"{predictor.audio_config.fmax:g} Hz",
        )
    return recording


@dataclass(frozen=True)
class TimelineOptions:
    """How a timeline is built: the recording's limits, how speech is found (``speech``; default:
    segments no longer than the model reads of one clip) and by which detector, how many speakers
    the recording holds (``None``: as many as the voices show), and the names the timeline gives
    the recording (``source``) and its transcript."""

    limits: TimelineLimits = TimelineLimits()
    speech: SpeechSettings | None = None
    detector: SpeechDetector | None = None
    speakers: int | None = None
    source: str | None = None
    transcript: str | None = None


def build_timeline(
    predictor: Predictor,
    audio: str | Path | bytes | LongRecording,
    cues: list[Cue] | None = None,
    options: TimelineOptions = TimelineOptions(),
    progress: Progress = _quiet,
) -> Timeline:
    """The timeline of ``audio`` (a path, a file's bytes, or a recording :func:`open_recording`
    has checked already).  ``cues``: a time-aligned transcript
    (its words go to the segments they fall in; without one, valence is not given).  Refusals of
    the recording or the transcript are PredictionErrors; a segment the model cannot read gets
    its own error and the others go on.  The segments are clustered into speakers by their voices
    (``options.speakers`` of them, or as many as the voices show) and each is normalised by its
    speaker's."""
    recording = audio if isinstance(audio, LongRecording) else open_recording(predictor, audio, options.limits)
    if cues:
        check_cues_fit(cues, recording.seconds)  # before an hour of audio is scanned
    settings = options.speech or SpeechSettings(max_segment_s=model_window_s(predictor))
    detector = options.detector or SpeechDetector()
    scan = detector.scan(
        recording.blocks(),
        recording.sample_rate,
        progress=lambda seconds: progress("speech", seconds, recording.seconds),
    )
    stretches = [(start, min(end, recording.seconds)) for start, end in detector.segments(scan, settings)]
    words = words_for(stretches, cues) if cues else [""] * len(stretches)
    heard = (
        _recognised(predictor, recording, stretches, progress)
        if not cues and predictor.recognizer is not None
        else [None] * len(stretches)
    )
    speech = _predict_segments(predictor, recording, stretches, words, progress, options.speakers, heard)
    segments = _with_silences(speech, recording.seconds)
    notes = []
    if not stretches:
        notes.append("no speech found: the timeline holds silence only")
    recognised = sum(1 for segment in speech if segment.text_source == "asr")
    if not cues and predictor.recognizer is not None:
        notes.append(
            f"no transcript: {predictor.recognizer.name} recognised the words of {recognised} of "
            f"{len(speech)} speech segments (text_source asr)"
        )
    elif not cues:
        notes.append(
            "no transcript: emotions are predicted from the audio alone and valence, read from the "
            "words, is not given (give a time-aligned .srt or .vtt, or recognise the words with "
            "--asr whisper-base)"
        )
    return Timeline(
        source=options.source or (str(recording.source) if isinstance(recording.source, Path) else "upload"),
        seconds=round(recording.seconds, 3),
        sample_rate=recording.sample_rate,
        channels=recording.channels,
        classes=list(predictor.classes),
        transcript=options.transcript,
        segments=segments,
        summary=summarize(segments, predictor.classes),
        waveform=_waveform(scan.peaks, scan.seconds_per_bin),
        notes=notes,
    )


def _recognised(
    predictor: Predictor, recording: LongRecording, stretches: list[tuple[float, float]], progress: Progress
) -> list[Recognition | None]:
    """Pass 2 when no transcript was given: the words of every speech segment, recognised together
    (packed into the recogniser's windows); None for a segment that cannot be read (pass 2b
    reports it)."""
    readable: list[int] = []
    heard: list[Recognition | None] = [None] * len(stretches)

    def clips():
        for index, (start, end) in enumerate(stretches):
            try:
                samples = mono_at(recording.span(start, end), recording.sample_rate, ASR_SAMPLE_RATE)
            except AudioError:
                continue
            readable.append(index)
            yield samples

    for done, recognition in enumerate(predictor.recognizer.transcribe_many(clips())):
        heard[readable[done]] = recognition
        progress("words", readable[done] + 1, len(stretches))
    return heard


def _voices(
    predictor: Predictor, recording: LongRecording, stretches: list[tuple[float, float]], progress: Progress
) -> tuple[list, np.ndarray, list[int]]:
    """Pass 2a: each segment's raw frozen inputs (None where it cannot be read) and the voice
    embeddings of those that can (GE2E's, in the order of the returned indices)."""
    rate = predictor.audio_config.sample_rate
    reads_ge2e = predictor.audio_config.upstream == GE2E_SPEC
    frozen: list = []
    voices, readable = [], []
    for index, (start, end) in enumerate(stretches):
        try:
            samples = mono_at(recording.span(start, end), recording.sample_rate, rate)
            states = predictor.preparer.frozen(samples, rate)
            voice = (
                states[0][STATE_ROWS.index("embedding")]
                if reads_ge2e
                else load_ge2e().states(mono_at(samples, rate, GE2E_RATE))[STATE_ROWS.index("embedding")]
            )
        except (AudioError, PredictionError):
            frozen.append(None)  # pass 2b reports it
            continue
        frozen.append(states)
        voices.append(voice)
        readable.append(index)
        progress("speakers", index + 1, len(stretches))
    return frozen, (np.stack(voices) if voices else np.zeros((0, 1), dtype=np.float32)), readable


def _speaker_inputs(
    predictor: Predictor,
    recording: LongRecording,
    stretches: list[tuple[float, float]],
    speakers: int | None,
    progress: Progress,
) -> list[SpeakerInput | None]:
    """Each speech segment's speaker (S1, S2, ... in order of first appearance) and statistics: its
    cluster's, from every segment of that voice; a voice with too few segments gets the population's."""
    frozen, voices, readable = _voices(predictor, recording, stretches, progress)
    labels = cluster_speakers(voices, speakers) if len(readable) else np.zeros(0, dtype=int)
    speaker_of = {index: f"S{label + 1}" for index, label in zip(readable, labels)}
    groups: dict[str, list] = {}
    for index, name in speaker_of.items():
        groups.setdefault(name, []).append(frozen[index])
    statistics = {name: predictor.speaker_statistics(clips) for name, clips in groups.items()}
    return [
        SpeakerInput(speaker_of[i], statistics[speaker_of[i]], frozen[i]) if i in speaker_of else None
        for i in range(len(stretches))
    ]


def _predict_segments(
    predictor: Predictor,
    recording: LongRecording,
    stretches: list[tuple[float, float]],
    words: list[str],
    progress: Progress,
    speakers: int | None = None,
    heard: list[Recognition | None] | None = None,
) -> list[TimelineSegment]:
    rate = predictor.audio_config.sample_rate
    segments: list[TimelineSegment] = []
    pending: list[tuple[TimelineSegment, object]] = []
    who = _speaker_inputs(predictor, recording, stretches, speakers, progress)

    def flush() -> None:
        for (segment, _), result in zip(pending, predictor.run([p for _, p in pending])):
            _fill(segment, result)
        pending.clear()
        progress("emotion", len(segments), len(stretches))

    for (start, end), text, speaker, recognition in zip(stretches, words, who, heard or [None] * len(stretches)):
        segment = TimelineSegment(
            index=0,
            kind="speech",
            start_s=round(start, 3),
            end_s=round(end, 3),
            text=text,
            speaker=speaker.speaker if speaker else None,
        )
        segments.append(segment)
        try:
            samples = mono_at(recording.span(start, end), recording.sample_rate, rate)
            pending.append(
                (
                    segment,
                    predictor.prepare(samples, text or None, sample_rate=rate, speaker=speaker, heard=recognition),
                )
            )
        except AudioError as error:
            segment.error, segment.error_kind = str(error), str(error.reason)
        except PredictionError as error:
            segment.error, segment.error_kind = str(error), str(error.kind)
        if len(pending) >= BATCH:
            flush()
    if pending:
        flush()
    progress("emotion", len(segments), len(stretches))
    return segments


def _fill(segment: TimelineSegment, result: PredictionResult) -> None:
    if result.error:
        segment.error, segment.error_kind = result.error, result.error_kind
        return
    segment.label, segment.probabilities = result.label, result.probabilities
    segment.arousal, segment.valence = result.arousal, result.valence
    # A transcript's words stay as the cue gave them; recognised words come from the result.
    segment.text_source = result.text_source
    if result.text_source == "asr":
        segment.text = result.text
    # The notes of a clip that would repeat on every segment (no text, resampling) say nothing here.
    segment.notes = [note for note in result.notes if not note.startswith(("no text", "resampled", "text "))]


def _with_silences(speech: list[TimelineSegment], seconds: float) -> list[TimelineSegment]:
    """The speech segments with the silences between them, covering 0 to ``seconds``, numbered."""
    segments: list[TimelineSegment] = []
    at = 0.0
    for segment in speech:
        if segment.start_s - at > 1e-3:
            segments.append(TimelineSegment(index=0, kind="silence", start_s=round(at, 3), end_s=segment.start_s))
        segments.append(segment)
        at = segment.end_s
    if seconds - at > 1e-3:
        segments.append(TimelineSegment(index=0, kind="silence", start_s=round(at, 3), end_s=round(seconds, 3)))
    for index, segment in enumerate(segments):
        segment.index = index
    return segments


def summarize(segments: list[TimelineSegment], classes: list[str]) -> TimelineSummary:
    """Share of the labelled speech time per emotion, and the strongest moments: for each class
    but the most common one, the segment labelled so where its probability peaks, and the segment
    of highest arousal."""
    speech = [s for s in segments if s.kind == "speech"]
    labelled = [s for s in speech if s.label is not None]
    total = sum(s.seconds for s in labelled)
    share = {c: round(sum(s.seconds for s in labelled if s.label == c) / total, 4) if total else 0.0 for c in classes}
    strongest: list[Moment] = []
    if labelled:
        common = max(share, key=share.get)
        for name in classes:
            if name == common:
                continue
            mine = sorted((s for s in labelled if s.label == name), key=lambda s: -s.probabilities[name])
            strongest += [
                Moment(what=name, value=s.probabilities[name], index=s.index, start_s=s.start_s, end_s=s.end_s)
                for s in mine[:1]
            ]
        rated = sorted((s for s in labelled if s.arousal is not None), key=lambda s: -s.arousal)
        strongest += [
            Moment(what="arousal", value=s.arousal, index=s.index, start_s=s.start_s, end_s=s.end_s) for s in rated[:1]
        ]
    return TimelineSummary(
        speech_s=round(sum(s.seconds for s in speech), 3),
        silence_s=round(sum(s.seconds for s in segments if s.kind == "silence"), 3),
        speech_segments=len(speech),
        failed_segments=sum(s.error is not None for s in speech),
        share=share,
        strongest=strongest,
        speakers={
            name: round(sum(s.seconds for s in speech if s.speaker == name), 3)
            for name in dict.fromkeys(s.speaker for s in speech if s.speaker)
        },
    )


def _waveform(peaks: np.ndarray, seconds_per_bin: float) -> Waveform:
    """The peaks, merged so that at most :data:`MAX_WAVEFORM_BINS` remain."""
    if len(peaks) > MAX_WAVEFORM_BINS:
        factor = int(np.ceil(len(peaks) / MAX_WAVEFORM_BINS))
        padded = np.pad(peaks, (0, (-len(peaks)) % factor))
        peaks, seconds_per_bin = padded.reshape(-1, factor).max(axis=1), seconds_per_bin * factor
    return Waveform(seconds_per_bin=round(seconds_per_bin, 6), peaks=[round(float(min(p, 1.0)), 4) for p in peaks])

"""The timeline finds the speech of a long recording and gives each segment the emotion the model
gives that utterance alone."""

import numpy as np
import pytest
import soundfile

from tests.builders import build_long, srt
from vamer.inference.intake import PredictionError
from vamer.limits import TimelineLimits
from vamer.timeline.build import TimelineOptions, build_timeline
from vamer.timeline.transcript import read_cues


@pytest.fixture(scope="module")
def timeline(predictor, long_recording):
    return build_timeline(predictor, long_recording.path)


def test_segments_are_found_within_0_3_s_and_silence_gets_no_emotion(timeline, long_recording):
    speech = [s for s in timeline.segments if s.kind == "speech"]
    assert len(speech) == len(long_recording.speech)
    # Against where the demo generator put each utterance's speech (its plan: the silence before
    # and after it), the larger of the two boundary errors.
    off = [max(abs(s.start_s - start), abs(s.end_s - end)) for s, (start, end) in zip(speech, long_recording.speech)]
    assert max(off) <= 0.3, off
    silences = [s for s in timeline.segments if s.kind == "silence"]
    assert len(silences) == len(speech) + 1
    assert all(s.label is None and s.probabilities is None and s.arousal is None for s in silences)
    # The segments cover the recording, in order, without a gap or an overlap.
    assert timeline.segments[0].start_s == 0 and timeline.segments[-1].end_s == timeline.seconds
    assert all(a.end_s == b.start_s for a, b in zip(timeline.segments, timeline.segments[1:]))


def test_each_segment_gets_the_emotion_of_its_utterance_alone(timeline, long_recording, predictor):
    """...with the same speaker context: each utterance normalised by the statistics of the voice
    its segment was put with (the population's for a voice of too few segments)."""
    speech = [s for s in timeline.segments if s.kind == "speech"]
    frozen = [predictor.frozen_inputs(wav) for wav in long_recording.utterances]
    voices = {}
    for segment, states in zip(speech, frozen):
        voices.setdefault(segment.speaker, []).append(states)
    statistics = {name: predictor.speaker_statistics(clips) for name, clips in voices.items()}
    alone = [
        predictor.predict(wav, text="", speaker=s.speaker, statistics=statistics[s.speaker]).label
        for wav, s in zip(long_recording.utterances, speech)
    ]  # audio only, as here
    same = sum(segment.label == label for segment, label in zip(speech, alone))
    assert same >= 0.95 * len(alone), (same, [s.label for s in speech], alone)
    assert all(s.valence is None for s in speech)  # no words: no valence
    assert any("no transcript" in note for note in timeline.notes)


def test_the_summary_adds_up(timeline):
    summary = timeline.summary
    assert summary.speech_segments == len([s for s in timeline.segments if s.kind == "speech"])
    assert abs(summary.speech_s + summary.silence_s - timeline.seconds) < 0.01
    assert abs(sum(summary.share.values()) - 1) < 0.01
    for moment in summary.strongest:
        segment = timeline.segments[moment.index]
        assert segment.kind == "speech" and (moment.what == "arousal" or segment.label == moment.what)
    assert len(timeline.waveform.peaks) * timeline.waveform.seconds_per_bin >= timeline.seconds - 0.1


def test_a_transcript_gives_each_segment_its_words_and_valence(predictor, long_recording):
    cues = read_cues(
        srt([(start, end, text) for (start, end), text in zip(long_recording.speech, long_recording.texts)]), "srt"
    )
    timeline = build_timeline(predictor, long_recording.path, cues, TimelineOptions(transcript="long.srt"))
    speech = [s for s in timeline.segments if s.kind == "speech"]
    assert [s.text for s in speech] == [" ".join(t.split()) for t in long_recording.texts]
    assert {s.text_source for s in speech if s.label} == {"given"}
    if predictor.bundle.regressors.get("valence"):
        assert all(s.valence is not None for s in speech if s.label)
    assert timeline.transcript == "long.srt" and not any("no transcript" in n for n in timeline.notes)


def test_silence_gives_an_empty_timeline_with_a_note(predictor, tmp_path):
    path = tmp_path / "quiet.wav"
    soundfile.write(path, np.random.default_rng(0).normal(0, 1e-4, 16_000 * 20).astype(np.float32), 16_000)
    timeline = build_timeline(predictor, path)
    assert [s.kind for s in timeline.segments] == ["silence"] and timeline.summary.speech_segments == 0
    assert any("no speech" in note for note in timeline.notes)


def test_a_transcript_past_the_audio_or_a_bad_recording_is_refused(predictor, long_recording, tmp_path):
    late = read_cues(srt([(1.0, 2.0, "하나"), (long_recording_seconds(long_recording) + 30, 999.0, "둘")]), "srt")
    with pytest.raises(PredictionError) as refused:
        build_timeline(predictor, long_recording.path, late)
    assert refused.value.kind == "transcript_past_audio"
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(PredictionError) as refused:
        build_timeline(predictor, tmp_path / "notes.wav")
    assert refused.value.kind == "unreadable_wav"
    with pytest.raises(PredictionError) as refused:
        build_timeline(predictor, long_recording.path, options=TimelineOptions(TimelineLimits(max_seconds=10)))
    assert refused.value.kind == "too_long"
    soundfile.write(tmp_path / "phone.wav", np.zeros(8_000 * 3, dtype=np.float32), 8_000)  # a telephone line
    with pytest.raises(PredictionError) as refused:
        build_timeline(predictor, tmp_path / "phone.wav")
    assert refused.value.kind == "sample_rate"  # as one clip at 8 kHz is refused


def long_recording_seconds(recording) -> float:
    return soundfile.info(recording.path).duration


def test_a_long_segment_is_split_to_the_models_window(predictor, long_recording, tmp_path):
    """Speech without a pause longer than the model reads is cut into pieces it can read whole."""
    wavs = long_recording.utterances[:6]
    joined = build_long(tmp_path, wavs, [0.5] + [0.0] * 5, long_recording.silences, name="joined.wav")
    from vamer.timeline.build import model_window_s

    timeline = build_timeline(predictor, joined.path)
    window = model_window_s(predictor)
    speech = [s for s in timeline.segments if s.kind == "speech"]
    assert all(s.end_s - s.start_s <= window + 0.05 for s in speech)
    assert sum(s.end_s - s.start_s for s in speech) > 0.8 * (joined.speech[-1][1] - joined.speech[0][0])


@pytest.mark.espeak
def test_without_a_transcript_the_recogniser_gives_each_segment_its_words(bundle_dir, short_recording, monkeypatch):
    from vamer.inference.predictor import Predictor

    listening = Predictor.from_bundle(bundle_dir, asr="whisper-base")
    phases = []
    timeline = build_timeline(listening, short_recording.path, progress=lambda phase, done, total: phases.append(phase))
    speech = [s for s in timeline.segments if s.kind == "speech" and s.label]
    heard = [s for s in speech if s.text_source == "asr"]
    # espeak-ng's Korean is hard to hear (a character error rate near 1, bench/asr.py): Hangul words
    # in most segments is what can be asked of it, not the right words.
    hangul = [s.text for s in heard if any("\uac00" <= ch <= "\ud7a3" for ch in s.text)]
    assert len(hangul) >= 0.5 * len(speech), [(s.text_source, s.text) for s in speech]
    assert all(s.valence is not None for s in heard) or not listening.bundle.regressors.get("valence")
    assert all(s.text == "" for s in speech if s.text_source == "none")
    assert "words" in phases and any(f"recognised the words of {len(heard)} of" in n for n in timeline.notes)

    # A transcript's words win: the recogniser is never asked.
    monkeypatch.setattr(listening.recognizer, "transcribe_many", lambda clips: pytest.fail("recognised"))
    monkeypatch.setattr(listening.recognizer, "transcribe", lambda samples: pytest.fail("recognised"))
    cues = read_cues(
        srt([(start, end, text) for (start, end), text in zip(short_recording.speech, short_recording.texts)]), "srt"
    )
    given = build_timeline(listening, short_recording.path, cues)
    assert {s.text_source for s in given.segments if s.kind == "speech" and s.label} == {"given"}

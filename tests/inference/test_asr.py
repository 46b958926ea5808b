"""Speech recognition at prediction time: it fills the text of a clip that has none, and never
replaces a text the user gave."""

import subprocess

import pytest

from vamer.inference.predictor import Predictor

pytestmark = pytest.mark.espeak


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    wav = tmp_path_factory.mktemp("asr") / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), "오늘 정말 재밌었어"], check=True)
    return wav


def test_given_text_wins_and_a_clip_without_text_gets_recognised_words(bundle_dir, spoken, monkeypatch):
    predictor = Predictor.from_bundle(bundle_dir, asr="whisper-base")
    heard = []
    real = predictor.recognizer.transcribe
    monkeypatch.setattr(predictor.recognizer, "transcribe", lambda samples: heard.append(len(samples)) or real(samples))

    given = predictor.predict(spoken, text="미안해 내가 다 망쳤어")
    assert given.text_source == "given" and given.text == "미안해 내가 다 망쳤어" and heard == []
    spoken.with_suffix(".txt").write_text("고마워", encoding="utf-8")
    try:
        beside = predictor.predict(spoken)
    finally:
        spoken.with_suffix(".txt").unlink()
    assert beside.text_source == "given" and beside.text == "고마워" and heard == []

    recognised = predictor.predict(spoken)
    assert heard and recognised.text_source == "asr" and not recognised.audio_only
    assert any("\uac00" <= ch <= "\ud7a3" for ch in recognised.text), recognised.text
    assert recognised.valence is not None
    assert any("recognised by whisper-base" in note for note in recognised.notes)

    alone = Predictor.from_bundle(bundle_dir).predict(spoken)  # the library's default: no recognition
    assert alone.text_source == "none" and alone.valence is None

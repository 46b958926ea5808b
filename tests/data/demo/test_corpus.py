import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from vamer.data import load
from vamer.data.demo import generate_demo
from vamer.data.demo.corpus import AROUSAL_MEAN, VALENCE_MEAN, emotion_counts, plan_corpus
from vamer.data.demo.speech import Voice, prosody_for
from vamer.data.transcripts import clean_transcript
from vamer.errors import VamerError

SENTENCES = yaml.safe_load(resources.files("vamer.data.demo").joinpath("sentences.yaml").read_text("utf-8"))


def test_default_plan_keeps_neutral_the_majority():
    counts = emotion_counts(20 * 20)
    total = sum(counts.values())
    share = {emotion: n / total for emotion, n in counts.items()}
    assert share["neutral"] > 0.55 and share["neutral"] > 4 * share["happy"]
    assert 0.10 <= share["happy"] <= 0.18
    for emotion in ("surprise", "angry", "sad"):
        assert 0.05 <= share[emotion] <= 0.09
    assert counts["disgust"] >= 1 and counts["fear"] >= 1


def test_plan_writes_ties_and_the_disqust_spelling():
    plan = plan_corpus(20, 20, seed=0)
    totals = [segment.total_emotion for segment in plan]
    assert sum(";" in total for total in totals) >= 4
    assert "disqust" in totals and "disgust" not in totals
    assert all(len(segment.votes) == 10 for segment in plan)


def test_classes_sit_in_the_arousal_valence_plane_as_in_the_method():
    plan = plan_corpus(40, 50, seed=1)
    rated = {
        emotion: (
            np.mean([s.arousal for s in plan if s.emotion == emotion]),
            np.mean([s.valence for s in plan if s.emotion == emotion]),
        )
        for emotion in ("neutral", "happy", "surprise", "angry", "sad")
    }
    for emotion, (arousal, valence) in rated.items():
        # Ratings are means of 10 noisy, rounded, clipped votes around the emotion's place.
        assert arousal == pytest.approx(AROUSAL_MEAN[emotion], abs=0.15), emotion
        assert valence == pytest.approx(VALENCE_MEAN[emotion], abs=0.15), emotion
    arousal = {e: a for e, (a, _) in rated.items()}
    valence = {e: v for e, (_, v) in rated.items()}
    assert min(arousal["happy"], arousal["angry"], arousal["surprise"]) > arousal["neutral"] + 0.5 > arousal["sad"] + 1
    assert valence["happy"] > valence["surprise"] > max(valence["angry"], valence["sad"]) + 0.5
    assert abs(valence["surprise"] - valence["neutral"]) < 0.3
    # The groups overlap: every class spreads over more than a point of each rating.
    for emotion in rated:
        assert np.ptp([s.valence for s in plan if s.emotion == emotion]) > 1.0


def appraisal_of(segment) -> str:
    text = clean_transcript(segment.text_raw)
    return next(
        (grade for grade, phrases in SENTENCES["appraisals"].items() if any(p in text for p in phrases)), "none"
    )


def test_wording_carries_valence_but_not_the_class():
    plan = plan_corpus(40, 20, seed=2)
    grades = ["very_negative", "mildly_negative", "none", "mildly_positive", "very_positive"]
    mean_valence = [np.mean([s.valence for s in plan if appraisal_of(s) == grade]) for grade in grades]
    assert mean_valence == sorted(mean_valence) and mean_valence[-1] - mean_valence[0] > 2.0
    # Angry and sad segments draw from one pool of negative sentences: words say "negative", not which.
    negative = [s for s in plan if s.emotion in ("angry", "sad") and "negative" in appraisal_of(s)]
    angry_words = {clean_transcript(s.text_raw).split()[-1] for s in negative if s.emotion == "angry"}
    sad_words = {clean_transcript(s.text_raw).split()[-1] for s in negative if s.emotion == "sad"}
    assert angry_words & sad_words
    # Some emotional segments keep neutral wording, so text alone cannot solve the task.
    emotional = [s for s in plan if s.emotion in ("happy", "angry", "sad")]
    kept_neutral = [s for s in emotional if appraisal_of(s) == "none"]
    assert 0.05 < len(kept_neutral) / len(emotional) < 0.4


def test_arousal_drives_the_voice():
    voice = Voice(variant="f1", pitch=60, rate=165)
    calm = [prosody_for(voice, "neutral", 2.0, np.random.default_rng(i)) for i in range(50)]
    aroused = [prosody_for(voice, "neutral", 4.0, np.random.default_rng(i)) for i in range(50)]
    for field, least in (("pitch", 15), ("rate", 50), ("amplitude", 50)):
        gap = np.mean([getattr(p, field) for p in aroused]) - np.mean([getattr(p, field) for p in calm])
        assert gap > least, field


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.espeak
def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    first = generate_demo(tmp_path / "a", sessions=2, segments_per_session=8, seed=3, jobs=2, progress=False)
    generate_demo(tmp_path / "b", sessions=2, segments_per_session=8, seed=3, jobs=1, progress=False)
    generate_demo(tmp_path / "c", sessions=2, segments_per_session=8, seed=4, jobs=2, progress=False)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert first["segments"] == 16
    assert a == b
    assert a != c
    assert any(name.endswith(".wav") for name in a)


@pytest.mark.espeak
def test_demo_reads_back_as_kemdy20_with_only_explained_skips(tmp_path):
    root = tmp_path / "demo"
    generate_demo(root, sessions=17, segments_per_session=6, seed=0, progress=False)
    result = load(root)
    assert result.format == "kemdy20"
    assert set(result.utterances["dataset"]) == {"KEMDy20 (synthetic demo)"}
    assert "SYNTHETIC" in (root / "README.md").read_text(encoding="utf-8")
    assert set(result.skipped["reason"]) <= {"multi_label", "out_of_class"}
    assert result.source_rows == 17 * 6
    quirk = result.utterances[result.utterances["utt_id"].str.startswith("Sess42")]
    assert len(quirk) >= 1 and set(quirk["session"]) == {"Sess17"}
    assert set(result.utterances["sample_rate"]) == {16000} and set(result.utterances["channels"]) == {1}
    info = soundfile.info(result.utterances.iloc[0]["audio_path"])
    assert info.subtype == "PCM_16"
    raw = Path(result.utterances.iloc[0]["audio_path"]).with_suffix(".txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("cp949") == result.utterances.iloc[0]["text_raw"]
    assert set(result.bio["signal"]) == {"EDA", "TEMP", "IBI"}
    # IBI misses beats, so it covers fewer segments than TEMP.
    covered = result.bio.dropna(subset=["utt_id"]).groupby("signal", observed=True)["utt_id"].nunique()
    assert covered["IBI"] < covered["TEMP"]


@pytest.mark.espeak
def test_demo_never_replaces_a_folder_it_did_not_make(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(VamerError, match="not written by vamer"):
        generate_demo(mine, sessions=1, segments_per_session=4, force=True, progress=False)
    assert (mine / "thesis.tex").read_text() == "precious"
    demo = tmp_path / "demo"
    generate_demo(demo, sessions=1, segments_per_session=4, seed=1, progress=False)
    with pytest.raises(VamerError, match="--force"):
        generate_demo(demo, sessions=1, segments_per_session=4, seed=2, progress=False)
    generate_demo(demo, sessions=1, segments_per_session=6, seed=2, force=True, progress=False)
    assert len(list((demo / "wav" / "Session01").glob("*.wav"))) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch folders left

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from importlib import resources

from tests.conftest import needs_espeak
from vamer.data import load
from vamer.data.demo import generate_demo
from vamer.data.demo.corpus import AROUSAL_MEAN, VALENCE_MEAN, emotion_counts, plan_corpus
from vamer.data.transcripts import clean_transcript
from vamer.errors import VamerError

SENTENCES = yaml.safe_load(resources.files("vamer.data.demo").joinpath("sentences.yaml").read_text("utf-8"))


def test_default_plan_is_imbalanced_like_kemdy20():
    counts = emotion_counts(20 * 20)
    total = sum(counts.values())
    share = {emotion: n / total for emotion, n in counts.items()}
    assert share["neutral"] > 0.80
    assert 0.07 <= share["happy"] <= 0.11
    for emotion in ("surprise", "angry", "sad"):
        assert 0.01 <= share[emotion] <= 0.03
    assert counts["disgust"] >= 1 and counts["fear"] >= 1


def test_plan_writes_ties_and_the_disqust_spelling():
    plan = plan_corpus(20, 20, seed=0)
    totals = [segment.total_emotion for segment in plan]
    assert sum(";" in total for total in totals) >= 4
    assert "disqust" in totals and "disgust" not in totals
    assert all(len(segment.votes) == 10 for segment in plan)


def test_ratings_follow_the_method_means_plus_rater_noise():
    plan = plan_corpus(40, 50, seed=1)
    for emotion in ("neutral", "happy"):
        mine = [segment for segment in plan if segment.emotion == emotion]
        assert np.mean([s.arousal for s in mine]) == pytest.approx(AROUSAL_MEAN[emotion], abs=0.12)
        assert np.mean([s.valence for s in mine]) == pytest.approx(VALENCE_MEAN[emotion], abs=0.12)
        # Ratings are means of 10 noisy integer votes, so they vary around the emotion's mean.
        assert np.std([s.valence for s in mine]) > 0.2


def test_text_alone_cannot_solve_it():
    assert sum(len(items) for items in SENTENCES.values()) >= 300
    assert len({s for items in SENTENCES.values() for s in items}) == sum(len(items) for items in SENTENCES.values())
    neutral = set(SENTENCES["neutral"])
    plan = plan_corpus(40, 20, seed=2)
    emotional = [s for s in plan if s.emotion != "neutral"]
    neutral_worded = [s for s in emotional if any(sentence in clean_transcript(s.text_raw) for sentence in neutral)]
    assert 0.3 < len(neutral_worded) / len(emotional) < 0.7


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@needs_espeak
def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    first = generate_demo(tmp_path / "a", sessions=2, segments_per_session=8, seed=3, jobs=2, progress=False)
    generate_demo(tmp_path / "b", sessions=2, segments_per_session=8, seed=3, jobs=1, progress=False)
    generate_demo(tmp_path / "c", sessions=2, segments_per_session=8, seed=4, jobs=2, progress=False)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert first["segments"] == 16
    assert a == b
    assert a != c
    assert any(name.endswith(".wav") for name in a)


@needs_espeak
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


@needs_espeak
def test_demo_never_replaces_a_folder_it_did_not_make(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(VamerError, match="not a vamer demo corpus"):
        generate_demo(mine, sessions=1, segments_per_session=4, force=True, progress=False)
    assert (mine / "thesis.tex").read_text() == "precious"
    demo = tmp_path / "demo"
    generate_demo(demo, sessions=1, segments_per_session=4, seed=1, progress=False)
    with pytest.raises(VamerError, match="--force"):
        generate_demo(demo, sessions=1, segments_per_session=4, seed=2, progress=False)
    generate_demo(demo, sessions=1, segments_per_session=6, seed=2, force=True, progress=False)
    assert len(list((demo / "wav" / "Session01").glob("*.wav"))) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch folders left

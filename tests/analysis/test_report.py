import json

import pandas as pd
import pytest

from tests.builders import Kemdy20Builder, Segment, write_wav
from vamer.analysis import analyze
from vamer.analysis.config import AnalysisConfig
from vamer.analysis.report import conclusions
from vamer.data import load
from vamer.errors import VamerError

FAST = AnalysisConfig(k_max=4, kmeans_max_iter=5)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory, demo_corpus):
    root = demo_corpus
    out = tmp_path_factory.mktemp("report") / "analysis"
    numbers = analyze(load(root), out, FAST, progress=False)
    return out, numbers


@pytest.mark.espeak
def test_demo_report_has_every_section_figure_and_number(demo_report):
    out, numbers = demo_report
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in (
        "SYNTHETIC demo corpus",
        "## 1. Arousal and valence against emotion",
        "Normality per group",
        "Equal variances: Bartlett",
        "Post-hoc",
        "## 2. Bio-signals",
        "### Coverage",
        "Gaps",
        "### Sess01 over time",
        "### TEMP shapes: DTW time-series k-means",
        "Chosen: k =",
        "Cluster × emotion",
        "### Segment responses",
        "## Conclusions",
    ):
        assert heading in report, heading
    saved = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(numbers, default=str))
    for rating in ("arousal", "valence"):
        anova = saved["anova"][rating]
        assert set(anova) >= {"F", "ddof1", "ddof2", "p", "np2", "test"}
        assert anova["test"] in ("anova", "welch_anova")
    assert saved["protocol"]["seed"] == 0 and saved["protocol"]["synthetic"] is True
    assert set(saved["figures"]) == {
        "ratings_box.png",
        "ratings_violin.png",
        "bio_coverage.png",
        "bio_timeline.png",
        "bio_responses.png",
        "dtw_indices.png",
        "dtw_silhouette.png",
    }
    for name in saved["figures"]:
        assert (out / name).stat().st_size > 10_000
        assert f"]({name})" in report
    dtw = saved["bio"]["dtw"]
    assert [row["k"] for row in dtw["per_k"]] == [2, 3, 4] and dtw["chosen_k"] in (2, 3, 4)
    signals = {line.split()[0] for line in saved["conclusions"]}
    assert signals == {"Arousal", "Valence", "EDA", "TEMP", "IBI"}


@pytest.mark.espeak
def test_existing_folders_are_protected(demo_report, tmp_path):
    out, _ = demo_report
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    with pytest.raises(VamerError, match="not written by vamer"):
        analyze(load_manifest(tmp_path), mine, FAST, progress=False)
    assert (mine / "notes.md").read_text() == "mine"
    with pytest.raises(VamerError, match="--force"):
        analyze(load_manifest(tmp_path), out, FAST, progress=False)


def load_manifest(folder, ratings=False):
    write_wav(folder / "a.wav")
    rows = [
        {"audio": "a.wav", "emotion": label, "utt_id": f"u{i}"}
        for i, label in enumerate(["neutral"] * 5 + ["happy"] * 5)
    ]
    frame = pd.DataFrame(rows)
    if ratings:
        frame["arousal"] = [3, 3.2, 2.9, 3.1, 3.0, 4, 4.2, 3.9, 4.1, 4.4]
    frame.to_csv(folder / "m.csv", index=False)
    return load(folder / "m.csv")


def test_manifest_without_ratings_or_bio_says_what_was_skipped(tmp_path):
    numbers = analyze(load_manifest(tmp_path), tmp_path / "out", FAST, progress=False)
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "skipped: the dataset has no arousal or valence ratings" in report
    assert "skipped: the dataset has no bio-signals" in report
    assert numbers["anova"] == {} and numbers["conclusions"] == []


def test_kemdy_without_bio_folders_gets_ratings_only(tmp_path):
    builder = Kemdy20Builder(tmp_path / "k")
    values = {"neutral": ["3.0", "3.2", "2.8", "3.1"], "happy": ["4.0", "4.4", "3.8", "4.2"], "sad": ["2.0"]}
    number = 0
    for label, ratings in values.items():
        for rating in ratings:
            number += 1
            builder.add(
                1, Segment(f"Sess01_script01_User001F_{number:03d}", emotion=label, valence=rating, arousal=rating)
            )
    numbers = analyze(load(builder.write()), tmp_path / "out", FAST, progress=False)
    assert numbers["bio"]["skipped"].startswith("skipped: the dataset has no bio-signals")
    assert numbers["anova"]["valence"]["F"] > 1
    notes = " ".join(numbers["ratings"]["valence"]["notes"])
    assert "left out of the tests: surprise, angry, sad" in notes


def test_conclusions_follow_the_numbers():
    def bio(significant):
        return {
            "signals": ["EDA"],
            "association": {
                "tests": [
                    {
                        "signal": "EDA",
                        "test": "spearman_arousal",
                        "statistic": 0.3,
                        "effect": 0.3,
                        "p": 0.001,
                        "p_holm": 0.004 if significant else 0.4,
                        "significant": significant,
                    }
                ]
            },
        }

    def ratings(significant):
        return {
            "arousal": {
                "anova": {
                    "test": "welch_anova",
                    "ddof1": 4,
                    "ddof2": 245.75,
                    "F": 3.1,
                    "p": 0.001 if significant else 0.2,
                    "np2": 0.01,
                    "significant": significant,
                }
            }
        }

    differs, related = conclusions(ratings(True), bio(True), 0.05)
    same, unrelated = conclusions(ratings(False), bio(False), 0.05)
    # The verdict turns with the test, and each line cites the numbers it rests on.
    assert "not" not in differs and "does not differ" in same and "F(4, 245.75) = 3.10" in same
    assert "not related" not in related and "not related" in unrelated
    assert "p = 0.200" in same and "0.004" in related and "0.400" in unrelated
    assert conclusions({}, bio(False), 0.05) == [unrelated]  # no ratings: nothing said about them

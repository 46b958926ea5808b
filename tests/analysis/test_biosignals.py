import numpy as np
import pandas as pd
import pytest

from vamer.analysis.biosignals import association, coverage, gaps, holm, segment_responses


def recording(name, signal, values, step=0.25, segments=(), session="Sess01", start="2020-08-21 10:00:00"):
    """A bio table for one recording; ``segments`` are (utt_id, first index, last index)."""
    t = np.arange(len(values)) * step
    utt = [None] * len(values)
    for utt_id, first, last in segments:
        for i in range(first, last + 1):
            utt[i] = utt_id
    return pd.DataFrame(
        {
            "utt_id": pd.array(utt, dtype="string"),
            "session": session,
            "speaker": name[-8:],
            "recording": name,
            "signal": signal,
            "timestamp": pd.Timestamp(start) + pd.to_timedelta(t, unit="s"),
            "t": t,
            "value": np.asarray(values, dtype=float),
        }
    )


def test_response_is_inside_minus_baseline_over_recording_spread():
    values = [1.0] * 8 + [3.0] * 4 + [1.0] * 8
    bio = recording("Sess01_script01_User001F", "EDA", values, segments=[("u1", 8, 11)])
    responses, notes = segment_responses(bio, baseline_s=2.0)
    assert list(responses["utt_id"]) == ["u1"] and responses.loc[0, "samples"] == 4
    assert responses.loc[0, "response_z"] == pytest.approx((3.0 - 1.0) / np.std(values))
    assert notes == []


def test_constant_recordings_and_missing_baselines_are_noted():
    flat = recording("Sess01_script01_User001F", "TEMP", [33.0] * 12, segments=[("u1", 4, 7)])
    early = recording("Sess01_script01_User002M", "EDA", [1, 2, 3, 4, 5, 6.0], segments=[("u2", 0, 2)])
    responses, notes = segment_responses(pd.concat([flat, early], ignore_index=True))
    assert responses.empty
    assert "1 recordings are constant" in notes[0] and "Sess01_script01_User001F (TEMP)" in notes[0]
    assert "no sample in the 2 s before" in notes[1]


def test_gaps_are_found_where_samples_stop():
    values = np.ones(40)
    bio = recording("Sess01_script01_User001F", "EDA", values)
    bio = bio[(bio["t"] < 3) | (bio["t"] >= 8)]  # a hole from 2.75 s to 8.0 s
    found = gaps(bio)
    assert len(found) == 1
    assert found.loc[0, "seconds"] == pytest.approx(5.25)
    assert found.loc[0, "start"] == pd.Timestamp("2020-08-21 10:00:02.750")


def test_coverage_counts_segments_with_samples():
    bio = recording("Sess01_script01_User001F", "EDA", np.arange(10.0), segments=[("u1", 2, 4)])
    utterances = pd.DataFrame({"utt_id": ["u1", "u2"], "session": ["Sess01", "Sess01"]})
    table = coverage(utterances, bio)
    assert table.to_dict("records") == [
        {"session": "Sess01", "signal": "EDA", "segments": 2, "covered": 1, "share": 0.5}
    ]


def test_association_finds_a_planted_link_and_holm_adjusts():
    rng = np.random.default_rng(0)
    n = 200
    arousal = rng.uniform(1, 5, n)
    utterances = pd.DataFrame(
        {
            "utt_id": [f"u{i}" for i in range(n)],
            "emotion": rng.choice(["a", "b"], n),
            "arousal": arousal,
            "valence": rng.uniform(1, 5, n),
        }
    )
    responses = pd.concat(
        [
            pd.DataFrame(
                {
                    "utt_id": utterances["utt_id"],
                    "signal": "EDA",
                    "samples": 4,
                    "response_z": arousal + rng.normal(0, 1, n),
                }
            ),
            pd.DataFrame(
                {"utt_id": utterances["utt_id"], "signal": "TEMP", "samples": 4, "response_z": rng.normal(0, 1, n)}
            ),
        ]
    )
    result = association(responses, utterances, ["a", "b"])
    holm(result["tests"], alpha=0.05)
    by = {(t["signal"], t["test"]): t for t in result["tests"]}
    assert by[("EDA", "spearman_arousal")]["significant"] and by[("EDA", "spearman_arousal")]["statistic"] > 0.5
    assert not any(t["significant"] for t in result["tests"] if t["signal"] == "TEMP")
    assert all(t["p_holm"] >= t["p"] for t in result["tests"])

import pandas as pd
import pytest

from vamer.errors import VamerError
from vamer.features.splits import Fold, LeakageError, check_leakage, make_folds


@pytest.fixture
def table():
    rows = []
    for session in range(1, 11):
        for speaker in (2 * session - 1, 2 * session):
            for k in range(6):
                rows.append(
                    {
                        "utt_id": f"S{session:02d}_P{speaker:03d}_{k}",
                        "session": f"Sess{session:02d}",
                        "speaker": f"User{speaker:03d}",
                        "emotion": ["neutral", "happy", "sad"][k % 3],
                    }
                )
    return pd.DataFrame(rows)


def speakers(table, ids):
    return set(table.set_index("utt_id").loc[list(ids), "speaker"])


@pytest.mark.parametrize("spec", ["speaker:5", "session:5"])
def test_group_folds_cover_everything_once_without_speaker_overlap(table, spec):
    folds = make_folds(table, spec, seed=3)
    assert len(folds) == 5
    tested = [u for fold in folds for u in fold.test]
    assert sorted(tested) == sorted(table["utt_id"])
    for fold in folds:
        assert not speakers(table, fold.test) & speakers(table, fold.train + fold.val)
        assert not speakers(table, fold.val) & speakers(table, fold.train)
        assert fold.speaker_independent and "speaker-independent" in fold.protocol
    assert [f.test for f in make_folds(table, spec, seed=3)] == [f.test for f in folds]


def test_fixed_sessions_and_random_split(table):
    (fold,) = make_folds(table, "sessions:Sess09,Sess10")
    assert {u[:3] for u in fold.test} == {"S09", "S10"} and len(fold.test) == 24
    (random,) = make_folds(table, "random:0.2", seed=1)
    assert random.protocol == "random 0.2 (speaker-dependent)" and not random.speaker_independent
    assert len(random.test) == 24
    assert speakers(table, random.test) & speakers(table, random.train)  # that is what speaker-dependent means


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("folds:5", "bad --cv"),
        ("speaker:x", "bad fold count"),
        ("session:11", "need 2 <= K <= 10"),
        ("sessions:Sess99", "no such session"),
        ("random:1.5", "between 0 and 1"),
    ],
)
def test_bad_specs(table, spec, message):
    with pytest.raises(VamerError, match=message):
        make_folds(table, spec)


def test_missing_speakers_need_a_random_split(table):
    table.loc[0, "speaker"] = None
    with pytest.raises(VamerError, match="have no speaker"):
        make_folds(table, "speaker:5")


def test_leakage_check_catches_speakers_and_augmented_copies(table):
    fold = make_folds(table, "speaker:5")[0]
    leaky = Fold(0, fold.train + (fold.test[0],), fold.val, fold.test[1:], fold.protocol, True)
    with pytest.raises(LeakageError, match="speaker"):
        check_leakage(leaky, table)
    twice = Fold(0, fold.train, fold.val + (fold.test[0],), fold.test, fold.protocol, True)
    with pytest.raises(LeakageError, match="both val and test"):
        check_leakage(twice, table)
    copies = pd.DataFrame({"aug_of": [fold.test[0]], "utt_id": [fold.test[0] + "#aug1"]})
    with pytest.raises(LeakageError, match="augmentation must touch the training split only"):
        check_leakage(fold, table, copies)
    check_leakage(fold, table, pd.DataFrame({"aug_of": [fold.train[0]], "utt_id": ["x#aug1"]}))

import pytest

from vamer.metrics import aggregate, classification_metrics

CLASSES = ["neutral", "happy", "sad"]
TRUE = ["neutral"] * 6 + ["happy"] * 3 + ["sad"] * 1
PRED = ["neutral"] * 5 + ["happy"] + ["happy", "neutral", "neutral"] + ["neutral"]


def test_against_hand_computed_values():
    m = classification_metrics(TRUE, PRED, CLASSES)
    # neutral: P 5/8, R 5/6; happy: P 1/2, R 1/3; sad: never predicted.
    f_neutral = 2 * (5 / 8) * (5 / 6) / (5 / 8 + 5 / 6)
    f_happy = 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3)
    assert m["macro_f1"] == pytest.approx((f_neutral + f_happy + 0) / 3)
    assert m["weighted_f1"] == pytest.approx((6 * f_neutral + 3 * f_happy) / 10)
    assert m["ua"] == pytest.approx((5 / 6 + 1 / 3 + 0) / 3)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["per_class"]["sad"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["confusion"] == [[5, 1, 0], [2, 1, 0], [1, 0, 0]]


def test_always_majority_shows_why_weighted_f1_flatters():
    m = classification_metrics(TRUE, ["neutral"] * 10, CLASSES)
    assert m["accuracy"] == 0.6 and m["ua"] == pytest.approx(1 / 3)
    assert m["weighted_f1"] == pytest.approx(0.45) and m["macro_f1"] == pytest.approx(0.25)


def test_aggregate_mean_and_std_over_runs():
    runs = [classification_metrics(TRUE, PRED, CLASSES), classification_metrics(TRUE, TRUE, CLASSES)]
    summary = aggregate(runs, CLASSES)
    assert summary["accuracy"] == {"mean": pytest.approx(0.8), "std": pytest.approx(0.2)}
    assert summary["per_class"]["sad"]["recall"]["mean"] == pytest.approx(0.5)
    assert summary["runs"] == 2


def test_ua_is_sklearns_balanced_accuracy_and_a_one_class_split_is_quiet():
    import warnings

    import numpy as np
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    classes = ["neutral", "happy", "sad", "angry"]
    truth = list(rng.choice(classes[:3], 50))  # "angry" is predicted but never true
    guess = list(rng.choice(classes, 50))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(truth, guess)
    assert classification_metrics(truth, guess, classes)["ua"] == pytest.approx(expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn warns on a 1x1 confusion matrix; vamer must not
        assert classification_metrics(["sad"] * 3, ["sad"] * 3, classes)["ua"] == 1.0

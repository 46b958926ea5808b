"""The linear probe as a module carries exactly the logistic regression scikit-learn fitted."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vamer.features.store import FoldData
from vamer.models.probe import LinearProbe
from vamer.recipe.probe import ensemble_rows, fit_probe, probe_rows

CLASSES = ["neutral", "happy", "sad", "angry"]


def _items(n, seed, classes=4):
    centres = np.random.default_rng(99).normal(0, 2, (4, 3, 5))  # the same classes in every split
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % classes
        out.append(
            {
                "utt_id": f"s{seed}u{i}",
                "upstream": (centres[label] + rng.normal(0, 1.5, (3, 5))).astype(np.float32),
                "functionals": rng.normal(0, 1, 2).astype(np.float32),
                "label": label,
                "aug_of": "",
            }
        )
    return out


def test_the_probe_module_gives_the_fitted_regressions_probabilities():
    data = FoldData(train=_items(80, 0), val=_items(24, 1), test=_items(30, 2))
    probe, _, c = fit_probe(data, len(CLASSES), (3, 5), 2, seed=0, refit=False)
    x = np.stack([np.concatenate([i["upstream"].ravel(), i["functionals"]]) for i in data.train])
    y = np.array([i["label"] for i in data.train])
    reference = make_pipeline(
        StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=0)
    ).fit(x, y)
    test = data.test
    with torch.no_grad():
        mine = (
            probe(
                torch.as_tensor(np.stack([i["upstream"] for i in test])),
                torch.as_tensor(np.stack([i["functionals"] for i in test])),
            )
            .softmax(-1)
            .numpy()
        )
    theirs = reference.predict_proba(
        np.stack([np.concatenate([i["upstream"].ravel(), i["functionals"]]) for i in test])
    )
    assert np.allclose(mine, theirs, atol=1e-5)
    rows = probe_rows(probe, test, CLASSES)
    assert [r["pred"] for r in rows] == [CLASSES[k] for k in theirs.argmax(1)]
    assert np.mean([r["pred"] == r["true"] for r in rows]) > 0.5  # it learned the classes


def test_a_class_the_training_split_lacks_is_never_predicted():
    train = [i for i in _items(60, 0) if i["label"] != 3]
    probe, _, _ = fit_probe(FoldData(train=train, val=_items(12, 1, classes=3), test=[]), 4, (3, 5), 2, seed=0)
    assert set(r["pred"] for r in probe_rows(probe, _items(40, 2), CLASSES)) <= set(CLASSES[:3])


def test_the_ensemble_averages_the_members_probabilities():
    one = [{"utt_id": "a", "true": "happy", "pred": "neutral", "p_neutral": 0.6, "p_happy": 0.4}]
    two = [{"utt_id": "a", "true": "happy", "pred": "happy", "p_neutral": 0.0, "p_happy": 1.0}]
    row = ensemble_rows(one, two, ["neutral", "happy"])[0]
    assert row["pred"] == "happy" and row["p_neutral"] == pytest.approx(0.3)


def test_a_probe_needs_frozen_inputs():
    with pytest.raises(ValueError):
        LinearProbe((0, 0), 0, 3)

"""The default recipe learns the demo corpus: the guard that fails when training stops learning
(a frozen encoder, weights that never move, a label shuffle, a broken feature path), on a
200-segment demo in about a minute, so it runs with `make test-slow`.  The default suite keeps
its cheaper guards: tests/training/test_pipeline.py (pretraining moves the encoders' weights and
reaches CCC 0.8) and tests/training/test_stages.py (each stage overfits a tiny batch)."""

import pytest

from vamer.data import load
from vamer.data.demo import generate_demo
from vamer.evaluation.baseline import baseline_features, run_rating_baselines
from vamer.features.config import AugmentConfig
from vamer.features.functionals import extract_functionals
from vamer.features.splits import make_folds
from vamer.features.store import FeatureStore
from vamer.metrics import classification_metrics
from vamer.presets import load_preset
from vamer.recipe import FoldTask, train_fold


@pytest.mark.slow
@pytest.mark.espeak
def test_cpu_recipe_learns_the_demo_premise_and_the_classes(tmp_path):
    generate_demo(tmp_path / "demo", sessions=10, segments_per_session=20, seed=0, progress=False)
    result = load(tmp_path / "demo", read_bio=False)
    preset = load_preset("cpu")
    store = FeatureStore.build(
        result.utterances, result.classes, preset.audio_features, preset.text, tmp_path / "cache", progress=False
    )
    folds = make_folds(store.table, "session:4", seed=0)

    # The premise the corpus encodes: arousal is heard, valence is read (linear models, all folds).
    functionals, unreadable = extract_functionals(store.table, preset.audio_features, store.cache.root, progress=False)
    assert not unreadable
    ridge = run_rating_baselines(store.table, folds, baseline_features(store, store.encoder, functionals))
    assert ridge["arousal"]["egemaps"]["ccc"]["mean"] > 0.5, ridge["arousal"]
    assert ridge["valence"]["text"]["ccc"]["mean"] > 0.3, ridge["valence"]
    assert ridge["arousal"]["text"]["ccc"]["mean"] < 0.3  # words say little about arousal

    # The network on one fold: both regressors and the fused classifier learn.
    data = store.fold_inputs(folds[0], AugmentConfig())
    task = FoldTask(data, preset, result.classes, tmp_path / "run", text_dim=store.encoder.dim)
    outcome = train_fold(task, ("fusion",))
    assert outcome.regression["arousal"]["ccc"] > 0.5, outcome.regression
    assert outcome.regression["valence"]["ccc"] > 0.25, outcome.regression
    rows = outcome.predictions["fusion"]
    truth = [r["true"] for r in rows]
    fused = classification_metrics(truth, [r["pred"] for r in rows], result.classes)
    majority = classification_metrics(truth, [max(set(truth), key=truth.count)] * len(truth), result.classes)
    assert fused["macro_f1"] > majority["macro_f1"] + 0.15, (fused["macro_f1"], majority["macro_f1"])
    assert len({r["pred"] for r in rows}) >= 3  # not one or two answers for everything

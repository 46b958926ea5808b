import numpy as np
import pytest

from vamer.data import load
from vamer.features.config import AugmentConfig, TextFeatureConfig
from vamer.features.splits import make_folds
from vamer.features.store import FeatureStore


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_corpus):
    return load(demo_corpus, read_bio=False), tmp_path_factory.mktemp("cache")


@pytest.mark.espeak
def test_one_call_builds_and_one_call_per_fold_splits_and_augments(demo):
    result, cache = demo
    store = FeatureStore.build(result.utterances, result.classes, cache_dir=cache, progress=False)
    assert len(store.table) == len(result.utterances) and store.skipped.empty
    fold = make_folds(store.table, "session:2", seed=0)[0]
    data = store.fold_inputs(fold, AugmentConfig(policy="both"))
    train, val, test = data.train, data.val, data.test
    assert len(val) + len(test) + (train.rows["aug_of"] == "").sum() == len(store.table)
    copies = train.rows[train.rows["aug_of"] != ""]
    assert set(copies["aug_of"]) <= set(fold.train)
    counts = data.class_counts.set_index("class")
    assert (counts["after"] - counts["before"]).sum() == len(copies)
    item = test[0]
    # Items hold their valid frames and tokens only; collate pads a batch.
    frames = len(store.mels[item["utt_id"]])
    assert item["audio"].shape == (2, frames, 128) and item["audio_mask"].all() and len(item["audio_mask"]) == frames
    assert item["text"].shape == (item["text_mask"].sum(), 512) and item["text_mask"].sum() > 0
    assert test[0] is item  # built once, kept for the next epoch
    if len(copies):
        index = int(copies.index[0])
        augmented, source = train[index], train.rows.loc[index, "aug_of"]
        original = store.table.set_index("utt_id").loc[source]
        assert augmented["label"] == result.classes.index(original["emotion"])
    assert store.stats["audio"]["cached"] + store.stats["audio"]["computed"] == len(store.table)


@pytest.mark.espeak
def test_trainable_text_gives_ids_fitted_on_train(demo):
    result, cache = demo
    store = FeatureStore.build(
        result.utterances,
        result.classes,
        text_config=TextFeatureConfig(encoder="trainable"),
        cache_dir=cache,
        progress=False,
    )
    data = store.fold_inputs(make_folds(store.table, "session:2")[0])
    item = data.train[0]
    assert item["text"].dtype == np.int64 and item["text"].shape == (item["text_mask"].sum(),) and len(item["text"])
    assert data.train.tokens is data.test.tokens

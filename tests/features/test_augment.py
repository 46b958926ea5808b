from collections import Counter

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from vamer.features.augment import (
    augment_mel,
    class_counts,
    copies_per_class,
    frequency_mask,
    plan_copies,
    random_deletion,
    random_swap,
)
from vamer.features.config import AugmentConfig

MEL = np.linspace(-60, -1, 50 * 128, dtype=np.float32).reshape(50, 128)


def changed_band(original, masked):
    columns = np.nonzero((original != masked).any(axis=0))[0]
    return columns.min(), columns.max() + 1


def test_masks_are_bands_of_10_to_30_bins_with_floor_or_noise():
    rng = np.random.default_rng(0)
    for _ in range(50):
        floor = frequency_mask(MEL, rng, 10, 30, fill="floor")
        start, stop = changed_band(MEL, floor)
        assert 10 <= stop - start <= 30 and (floor[:, start:stop] == -80).all()
        noise = frequency_mask(MEL, rng, 10, 30, fill="noise")
        start, stop = changed_band(MEL, noise)
        band = noise[:, start:stop]
        assert band.min() >= -80 and band.max() <= 0 and band.std() > 10
    np.testing.assert_array_equal(MEL, np.linspace(-60, -1, 50 * 128, dtype=np.float32).reshape(50, 128))


def test_every_copy_gets_its_own_mask_and_the_seed_repeats_them():
    config = AugmentConfig(policy="audio")
    masks = [augment_mel(MEL, "audio_mask", config, "u1", copy) for copy in range(3)]
    bands = {changed_band(MEL, m) for m in masks}
    assert len(bands) == 3  # the original reseeded inside its mask: all copies were identical
    np.testing.assert_array_equal(masks[0], augment_mel(MEL, "audio_mask", config, "u1", 0))
    other = augment_mel(MEL, "audio_mask", config, "u2", 0)
    assert changed_band(MEL, other) != changed_band(MEL, masks[0]) or not np.array_equal(other, masks[0])


words = st.lists(st.text(alphabet="가나다라마", min_size=1, max_size=3), min_size=0, max_size=12)


@given(words, st.integers(0, 2**32 - 1))
def test_swap_keeps_the_words_and_deletion_keeps_one(sentence, seed):
    rng = np.random.default_rng(seed)
    assert Counter(random_swap(sentence, 0.3, rng)) == Counter(sentence)
    kept = random_deletion(sentence, 0.3, rng)
    assert (len(kept) >= 1) == (len(sentence) >= 1)
    assert not Counter(kept) - Counter(sentence)


def train_rows():
    return pd.DataFrame(
        {
            "utt_id": ["n1", "n2", "s1", "a1", "h1"],
            "emotion": ["neutral", "neutral", "sad", "angry", "happy"],
            "text": ["하나 둘 셋 넷", "둘", "슬픈 날 이었어 정말", "화가 난다 진짜로 너무", "좋아"],
        }
    )


def test_balancing_policy_copies_minorities_and_reports_counts():
    train = train_rows()
    assert plan_copies(train, AugmentConfig(policy="none")).empty
    copies = plan_copies(train, AugmentConfig(policy="both", copies={"sad": 3, "angry": 3}))
    assert sorted(copies["aug_of"].unique()) == ["a1", "s1"]
    assert list(copies[copies["aug_of"] == "s1"]["ops"]) == [
        "text_swap",
        "audio_noise_mask",
        "text_delete+audio_noise_mask",
    ]
    assert copies["utt_id"].str.fullmatch(r"(s1|a1)#aug[123]").all()
    swapped = copies[(copies["aug_of"] == "s1") & (copies["copy"] == 1)]["text"].iloc[0]
    assert sorted(swapped.split()) == sorted("슬픈 날 이었어 정말".split())
    counts = class_counts(train, copies, ["neutral", "happy", "surprise", "angry", "sad"]).set_index("class")
    assert counts.loc["sad"].tolist() == [1, 3, 4] and counts.loc["happy"].tolist() == [1, 0, 1]
    text_only = plan_copies(train, AugmentConfig(policy="text", copies={"sad": 3, "angry": 3}))
    assert not text_only["ops"].str.contains("audio").any()


def test_copies_follow_the_class_counts_of_the_corpus_at_hand():
    """Classes below a tenth of the largest get copies up to that share, at most 3 each; a
    balanced corpus gets none; the class names play no part."""
    counts = {"calm": 40, "joy": 5, "boredom": 1, "rage": 2}
    plan = copies_per_class(counts, AugmentConfig(policy="both"))
    assert plan == {"calm": 0, "joy": 0, "boredom": 3, "rage": 1}
    assert set(copies_per_class({"a": 80, "b": 70, "c": 75}, AugmentConfig(policy="both")).values()) == {0}
    train = pd.DataFrame(
        {
            "utt_id": [f"u{i}" for i in range(48)],
            "emotion": ["calm"] * 40 + ["joy"] * 5 + ["boredom"] + ["rage"] * 2,
            "text": "x y",
        }
    )
    copies = plan_copies(train, AugmentConfig(policy="audio"))
    assert copies["emotion"].value_counts().to_dict() == {"boredom": 3, "rage": 2}

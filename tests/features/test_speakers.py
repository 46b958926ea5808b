import numpy as np
import pytest

from vamer.data import load
from vamer.errors import VamerError
from vamer.features.config import AudioFeatureConfig, AugmentConfig
from vamer.features.speakers import (
    NO_VALUES,
    SpeakerContext,
    SpeakerStatistics,
    context_protocol,
    normalise_rows,
    without_context_share,
)
from vamer.features.splits import make_folds
from vamer.features.store import FeatureStore
from vamer.training.data import clip_statistics


def _clips(rng, n, offset, scale=1.0):
    return (offset + scale * rng.normal(size=(n, 2, 3))).astype(np.float32)


def test_statistics_round_trip_through_bytes_and_refuse_damage():
    rng = np.random.default_rng(0)
    stats = SpeakerStatistics.of(_clips(rng, 6, 2.0), rng.normal(size=(6, 4)).astype(np.float32))
    back = SpeakerStatistics.from_bytes(stats.to_bytes(), (2, 3), 4)
    assert back.clips == 6 and np.array_equal(back.upstream_std, stats.upstream_std)
    with pytest.raises(VamerError, match="shaped"):
        SpeakerStatistics.from_bytes(stats.to_bytes(), (7, 256), 4)
    with pytest.raises(VamerError, match="not readable"):
        SpeakerStatistics.from_bytes(b"\x00" * 20, (2, 3), 4)
    nan = SpeakerStatistics(
        stats.upstream_mean * np.nan, stats.upstream_std, stats.functionals_mean, stats.functionals_std, 6
    )
    with pytest.raises(VamerError, match="finite"):
        SpeakerStatistics.from_bytes(nan.to_bytes(), (2, 3), 4)


def test_z_scores_use_the_speakers_own_statistics_and_a_constant_value_stays_finite():
    rng = np.random.default_rng(1)
    clips = _clips(rng, 8, 5.0, 3.0)
    clips[:, 0, 0] = 7.0  # never varies within this speaker: centred, not divided by ~0
    stats = SpeakerStatistics.of(clips, np.zeros((8, 0), np.float32))
    normalised = np.stack([stats.normalise(c, np.zeros(0, np.float32), "z")[0] for c in clips])
    assert np.allclose(normalised[:, 1:].reshape(8, -1).mean(0), 0, atol=1e-5)
    assert np.allclose(normalised[:, 1:].reshape(8, -1).std(0), 1, atol=1e-4)
    assert np.all(normalised[:, 0, 0] == 0)
    centred, _ = stats.normalise(clips[0], np.zeros(0, np.float32), "mean")
    assert np.allclose(centred, clips[0] - clips.mean(0), atol=1e-5)


def test_a_speaker_with_too_few_clips_or_none_gets_the_population_and_is_counted():
    rng = np.random.default_rng(2)
    upstream = {f"a{i}": c for i, c in enumerate(_clips(rng, 6, 10.0))}
    upstream |= {f"b{i}": c for i, c in enumerate(_clips(rng, 2, -10.0))}
    upstream["x"] = _clips(rng, 1, 0.0)[0]
    speakers = {u: u[0] for u in upstream} | {"x": None}
    context = SpeakerContext("z", 5, speakers, upstream, {}, population_ids=list(upstream))
    assert set(context.speakers) == {"a"}
    assert context.statistics("a1") is context.speakers["a"]
    assert context.statistics("b0") is context.population and context.statistics("x") is context.population
    assert context.statistics("a1", with_context=False) is context.population
    assert context.fallbacks() == {
        "min_clips": 5,
        "speakers": 2,
        "with_statistics": 1,
        "too_few_clips": 1,
        "clips_of_those": 2,
        "clips_without_speaker": 1,
    }
    from vamer.features.config import AudioFeatureConfig

    config = AudioFeatureConfig(
        functionals="egemaps", speaker_norm="z", speaker_min_clips=5, context_dropout=0.25, speaker_prior_clips=0
    )
    words = context_protocol(config, context.fallbacks())
    assert words["transductive"] and "transductive" in words["description"]
    assert context_protocol(AudioFeatureConfig(speaker_norm="none"), None) is None


def test_rows_are_normalised_by_speaker_with_the_rest_pooled():
    matrix = np.array([[1.0], [3.0], [10.0], [30.0], [7.0]])
    out = normalise_rows(matrix, ["a", "a", "b", "b", None], "z", 2)
    assert out[:4].ravel().tolist() == [-1.0, 1.0, -1.0, 1.0]
    assert out[4, 0] == pytest.approx((7.0 - matrix.mean()) / matrix.std(), rel=1e-5)


def test_a_prior_pools_a_few_clips_variances_with_the_population_so_a_quiet_unit_is_not_blown_up():
    rng = np.random.default_rng(1)
    population = SpeakerStatistics.of(rng.normal(0, 2.0, size=(200, 1, 3)), np.zeros((200, 0)))
    few = rng.normal(0, 2.0, size=(5, 1, 3))
    few[:, 0, 2] = 1.0 + 1e-3 * rng.normal(size=5)  # a unit nearly constant in these 5 clips
    own = SpeakerStatistics.of(few, np.zeros((5, 0)))
    pooled = own.toward(population, 20)
    expected = np.sqrt((5 * own.upstream_std**2 + 20 * population.upstream_std**2) / 25)
    assert np.allclose(pooled.upstream_std, expected, rtol=1e-5)
    assert np.array_equal(pooled.upstream_mean, own.upstream_mean) and own.toward(population, 0) is own
    clip = few[0, :, :].copy()
    clip[0, 2] = 3.0  # the quiet unit moves by 2 in a later clip
    alone, _ = own.normalise(clip.astype(np.float32), NO_VALUES, "z")
    shrunk, _ = pooled.normalise(clip.astype(np.float32), NO_VALUES, "z")
    assert abs(alone[0, 2]) > 100 and abs(shrunk[0, 2]) < 3
    # The baselines' rows get the same pooling (the population: all rows).
    rows = np.vstack([rng.normal(0, 2.0, size=(40, 3)), few[:, 0, :]])
    speakers = [None] * 40 + ["s"] * 5
    normalised = normalise_rows(rows, speakers, "z", 5, prior_clips=20)
    variance = (5 * few[:, 0, :].var(0) + 20 * rows.var(0)) / 25
    assert np.allclose(normalised[40:], (few[:, 0, :] - few[:, 0, :].mean(0)) / np.sqrt(variance), atol=1e-4)


def test_context_dropout_is_fixed_per_item_and_seed_and_near_its_share():
    shares = np.array([without_context_share(f"u{i}", 0, 3) for i in range(4000)])
    assert shares.tolist() == [without_context_share(f"u{i}", 0, 3) for i in range(4000)]
    assert abs((shares < 0.25).mean() - 0.25) < 0.03
    assert shares.tolist() != [without_context_share(f"u{i}", 0, 4) for i in range(4000)]


@pytest.mark.espeak
def test_a_fold_normalises_test_clips_by_their_speaker_and_without_context_by_the_training_population(
    demo_corpus, demo_cache
):
    result = load(demo_corpus, read_bio=False)
    config = AudioFeatureConfig(
        hop_length=1024, upstream="ge2e", speaker_norm="z", speaker_min_clips=2, speaker_prior_clips=3
    )
    store = FeatureStore.build(result.utterances, result.classes, config, cache_dir=demo_cache, progress=False)
    fold = make_folds(store.table, "session:2", seed=0)[0]
    data = store.fold_inputs(fold, AugmentConfig())
    table = store.table.set_index("utt_id")
    item = data.test[0]
    speaker = table.loc[item["utt_id"], "speaker"]
    own = np.stack([store.upstream[u] for u in table.index[table["speaker"] == speaker]]).astype(np.float64)
    raw = store.upstream[item["utt_id"]].astype(np.float64)
    train_ids = list(data.train.rows["utt_id"])
    population = np.stack([store.upstream[u] for u in train_ids]).astype(np.float64)
    # The speaker's variances pooled with the training population's, as if it had given 3 more clips.
    pooled = np.sqrt((len(own) * own.var(0) + 3 * population.var(0)) / (len(own) + 3))
    assert np.allclose(item["upstream"], (raw - own.mean(0)) / np.where(pooled > 1e-4, pooled, 1), atol=1e-3)
    alone = data.test_without_context[0]
    assert alone["utt_id"] == item["utt_id"]
    assert np.allclose(
        alone["upstream"],
        (raw - population.mean(0)) / np.where(population.std(0) > 1e-4, population.std(0), 1),
        atol=1e-3,
    )
    # Training items: about a quarter are shown as a stranger's (the population's statistics).
    shown_alone = sum(
        np.allclose(
            data.train[i]["upstream"],
            data.context.population.normalise(
                store.upstream[data.train.rows["utt_id"].iloc[i]].astype(np.float32), np.zeros(0, np.float32), "z"
            )[0],
            atol=1e-4,
        )
        for i in range(len(data.train))
    )
    assert 0 < shown_alone < len(data.train)
    # The model's own input scale is fitted on what it reads (normalised), not on the store's raw
    # states: fitted on the raw ones, z-scored inputs were divided by raw stds a second time and the
    # demo's arousal regressor fell from CCC 0.9 to 0.3.
    mean, std = clip_statistics(data.train, "upstream")
    originals = np.stack(
        [data.train[i]["upstream"] for i in range(len(data.train)) if not data.train.rows["aug_of"].iloc[i]]
    ).astype(np.float64)
    assert np.allclose(mean.numpy(), originals.mean(0), atol=1e-4)
    assert np.allclose(std.numpy(), originals.std(0), atol=1e-4)
    assert abs(float(std.mean()) - 1) < 0.2

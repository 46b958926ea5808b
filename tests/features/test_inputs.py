import numpy as np
import pytest

from vamer.features.audio import AudioError
from vamer.features.config import AudioFeatureConfig, TextFeatureConfig
from vamer.features.inputs import MODEL_INPUTS, TRIM_MULTIPLE, InputPreparer, batch_length, model_audio, stack_batch
from vamer.features.text import TrainableTokens


def test_batch_length_rounds_up_to_the_trim_multiple_and_never_below_it():
    assert [batch_length(n) for n in (0, 1, 8, 9, 16, 17)] == [8, 8, 8, 16, 16, 24]
    assert all(batch_length(n) % TRIM_MULTIPLE == 0 for n in range(1, 100))


def test_a_fixed_length_batch_equals_padding_each_item_then_stacking():
    rng = np.random.default_rng(0)
    audio = [rng.normal(size=(2, frames, 4)).astype(np.float32) for frames in (3, 7, 12)]
    items = [
        {
            "audio": a,
            "audio_mask": np.ones(a.shape[1], bool),
            "text": np.ones((2, 3), np.float32),
            "text_mask": np.ones(2, bool),
        }
        for a in audio
    ]
    for length in (8, 10):
        expected = np.stack([np.pad(a[:, :length], ((0, 0), (0, max(0, length - a.shape[1])), (0, 0))) for a in audio])
        batch = stack_batch(items, frames=length, tokens=4)
        assert batch["audio"].dtype == np.float32 and np.array_equal(batch["audio"], expected)
        assert batch["audio_mask"].sum(axis=1).tolist() == [min(n, length) for n in (3, 7, 12)]
        assert batch["text_mask"].tolist() == [[True, True, False, False]] * 3


def item(frames, tokens, dim=3):
    return {
        "audio": np.ones((2, frames, 4), np.float32),
        "audio_mask": np.ones(frames, bool),
        "text": np.ones((tokens, dim), np.float32),
        "text_mask": np.ones(tokens, bool),
    }


def test_a_batch_is_cut_to_its_longest_item_or_padded_to_full_lengths():
    batch = stack_batch([item(5, 2), item(13, 9)])
    assert batch["audio"].shape == (2, 2, 16, 4) and batch["text"].shape == (2, 16, 3)
    assert batch["audio_mask"].sum(axis=1).tolist() == [5, 13] and batch["text_mask"].sum(axis=1).tolist() == [2, 9]
    assert batch["functionals"].shape == (2, 0) and batch["upstream"].shape == (2, 0, 0)  # the preset reads none
    full = stack_batch([item(5, 2)], frames=40, tokens=12)
    assert full["audio"].shape == (1, 2, 40, 4) and full["text_mask"].shape == (1, 12)
    # An item padded to the preset's length batches like its valid part alone.
    padded = {
        **item(5, 2),
        "audio": np.pad(item(5, 2)["audio"], ((0, 0), (0, 35), (0, 0))),
        "audio_mask": np.arange(40) < 5,
    }
    assert all(np.array_equal(stack_batch([padded])[key], stack_batch([item(5, 2)])[key]) for key in MODEL_INPUTS)


def test_the_preparer_gives_the_same_inputs_at_any_input_rate_and_layout():
    preparer = InputPreparer(
        AudioFeatureConfig(), TextFeatureConfig(encoder="trainable"), encoder=TrainableTokens(8).fit(["가나다 라마"])
    )
    t = np.arange(16_000) / 16_000
    tone = (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    mono = preparer.audio(tone, 16_000)
    stereo = preparer.audio(np.stack([tone, tone], axis=1), 16_000)
    assert np.array_equal(mono.audio, stereo.audio) and mono.audio.dtype == np.float32
    assert mono.audio.shape == (2, 32, 128) and mono.audio_mask.all() and mono.seconds == pytest.approx(1.0)
    # The mel went through the cache's float16, as training reads it.
    assert np.array_equal(mono.audio[0], mono.audio[0].astype(np.float16).astype(np.float32))
    audio, mask = model_audio(np.zeros((600, 128), np.float16), max_frames=512)
    assert audio.shape == (2, 512, 128) and mask.shape == (512,)
    ids, text_mask = preparer.text("n/ 가나다 라마 l/")  # tags are stripped before encoding
    assert ids.dtype == np.int64 and len(ids) == int(text_mask.sum()) > 0 and (ids > 1).all()
    with pytest.raises(AudioError) as refused:
        preparer.audio(np.zeros(16_000, np.float32), 16_000)
    assert refused.value.reason == "silent"

import numpy as np

from vamer.features.batching import TRIM_MULTIPLE, batch_length, stack_to_length, trimmed_length


def test_batch_length_rounds_up_to_the_trim_multiple_and_never_below_it():
    assert [batch_length(n) for n in (0, 1, 8, 9, 16, 17)] == [8, 8, 8, 16, 16, 24]
    assert all(batch_length(n) % TRIM_MULTIPLE == 0 for n in range(1, 100))
    assert trimmed_length(500, 512) == 504 and trimmed_length(510, 512) == 512


def test_stack_to_length_equals_padding_each_item_then_stacking():
    rng = np.random.default_rng(0)
    items = [rng.normal(size=(2, frames, 4)).astype(np.float32) for frames in (3, 7, 12)]
    for length in (8, 10):
        expected = np.stack([np.pad(item[:, :length], ((0, 0), (0, max(0, length - item.shape[1])), (0, 0)))
                             for item in items])
        stacked = stack_to_length(items, length, 1)
        assert stacked.dtype == np.float32 and np.array_equal(stacked, expected)
    masks = [np.ones(n, dtype=bool) for n in (2, 5)]
    assert stack_to_length(masks, 4, 0).tolist() == [[True, True, False, False], [True, True, True, True]]

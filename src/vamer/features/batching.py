"""How model inputs of several utterances become one batch: the one rule training and prediction share.

A batch is cut (or zero-padded) to its longest valid run of frames or tokens, rounded up to a
multiple of ``TRIM_MULTIPLE``: padding lies under the masks, so outputs do not change, and short
clips train and predict several times faster than at a preset's full length.  The training
collate (:mod:`vamer.training.data`) and the predictor (:mod:`vamer.inference.predictor`) both
use these functions, so the inputs a prediction sees are the ones training saw.

>>> batch_length(37), trimmed_length(37, 32)
(40, 32)
"""

from __future__ import annotations

import numpy as np

TRIM_MULTIPLE = 8  # trimmed lengths stay multiples of every preset's time pooling


def batch_length(longest: int) -> int:
    """Length a batch is padded to: its longest valid run, rounded up to a multiple of TRIM_MULTIPLE."""
    return max(TRIM_MULTIPLE, -(-longest // TRIM_MULTIPLE) * TRIM_MULTIPLE)


def trimmed_length(length: int, full: int) -> int:
    """Where inputs padded to ``full`` can be cut when their longest valid run is ``length``."""
    return min(full, batch_length(length))


def stack_to_length(arrays: list[np.ndarray], length: int, axis: int) -> np.ndarray:
    """``arrays`` cut or zero-padded to ``length`` along ``axis`` and stacked: ``[len(arrays), ...]``.

    One zeroed batch array, each item copied into it: no per-item padded copy (``np.pad`` per item
    and key was a tenth of a small model's training step).

    >>> stack_to_length([np.ones(3), np.ones(5)], 4, 0).tolist()
    [[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    """
    arrays = [np.asarray(array) for array in arrays]
    shape = list(arrays[0].shape)
    shape[axis] = length
    batch = np.zeros((len(arrays), *shape), dtype=np.result_type(*arrays))
    for row, array in enumerate(arrays):
        kept = (slice(None),) * axis + (slice(0, min(length, array.shape[axis])),)
        batch[(row, *kept)] = array[kept]
    return batch

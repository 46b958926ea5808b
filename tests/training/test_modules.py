"""The losses and pooled metrics of the Lightning modules, on hand-made numbers."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vamer.training.modules import focal_loss, pooled_outputs


def test_focal_loss_is_cross_entropy_at_gamma_0_and_discounts_easy_examples():
    torch.manual_seed(0)
    logits, labels = torch.randn(12, 5), torch.arange(12) % 5
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
    assert focal_loss(logits, labels, None, 0.0) == pytest.approx(float(F.cross_entropy(logits, labels)), abs=1e-6)
    # With class weights, per-example weighted terms averaged over examples (not weight-normalised).
    expected = (F.cross_entropy(logits, labels, weight=weight, reduction="none")).mean()
    assert focal_loss(logits, labels, weight, 0.0) == pytest.approx(float(expected), abs=1e-6)
    easy = torch.tensor([[6.0, 0, 0, 0, 0]])
    hard = torch.tensor([[0.5, 0, 0, 0, 0]])
    label = torch.tensor([0])
    ratio_easy = focal_loss(easy, label, None, 2.0) / F.cross_entropy(easy, label)
    ratio_hard = focal_loss(hard, label, None, 2.0) / F.cross_entropy(hard, label)
    assert ratio_easy < 0.01 < ratio_hard < 1.0  # gamma shrinks the well-classified example's share most


def test_pooled_outputs_keep_each_utterance_once_in_order():
    batches = [
        (np.array([0.1, 0.2]), np.array([1, 2]), ["a", "b"]),
        (np.array([0.3, 0.1]), np.array([3, 1]), ["c", "a"]),
    ]  # "a" again: a DistributedSampler repeat
    pooled = pooled_outputs(batches, world_size=1)
    ids = [utt for *_, batch_ids in pooled for utt in batch_ids]
    values = np.concatenate([p for p, _, _ in pooled])
    assert ids == ["a", "b", "c"] and values.tolist() == [0.1, 0.2, 0.3]


def test_class_weights_are_inverse_frequency_and_one_when_balanced():
    from vamer.recipe.fusion import class_weights

    assert class_weights(np.array([0, 1, 2, 0, 1, 2]), 3) == [1.0, 1.0, 1.0]
    weights = class_weights(np.array([0] * 8 + [1] * 2), 3)
    assert weights[0] == pytest.approx(10 / 24) and weights[1] == pytest.approx(10 / 6) and weights[2] == 0.0
    # Weighted by them, each present class contributes the same total to the loss.
    counts = np.bincount([0] * 8 + [1] * 2, minlength=3)
    assert counts[0] * weights[0] == pytest.approx(counts[1] * weights[1])

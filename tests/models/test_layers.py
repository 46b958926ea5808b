"""The pooling heads, on hand-made sequences."""

import pytest
import torch

from vamer.models.layers import AttentionPooling, SequenceHead


def test_attention_pooling_weighs_only_valid_positions_and_sums_to_one():
    torch.manual_seed(0)
    pool = AttentionPooling(4)
    h = torch.randn(2, 5, 4)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    pooled = pool(h, mask)
    assert pooled.shape == (2, 4)
    # Padding carries no weight: changing it leaves the first row as it was.
    changed = h.clone()
    changed[0, 3:] = 1e3
    assert torch.allclose(pool(changed, mask)[0], pooled[0])
    # The weights are a softmax of the scores over the valid positions.
    scores = pool.score(h[0, :3]).squeeze(-1)
    expected = (scores.softmax(dim=0).unsqueeze(-1) * h[0, :3]).sum(dim=0)
    assert torch.allclose(pooled[0], expected, atol=1e-6)
    # With constant scores it is the mean of the valid positions.
    with torch.no_grad():
        pool.score.weight.zero_()
    assert torch.allclose(pool(h, mask)[0], h[0, :3].mean(dim=0), atol=1e-6)


def test_attention_head_learns_which_position_matters():
    """A target that only one position carries is learnt, and the pooling's scores train with it."""
    torch.manual_seed(0)
    head = SequenceHead("attention", 8, 1, 16, 1, 0.0)
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-2)
    h = torch.randn(64, 6, 8)
    h[:, :, 0] = 0.0
    h[:, 2, 0] = 3.0  # the marker of the position that carries the target
    target = h[:, 2, 1]
    mask = torch.ones(64, 6, dtype=torch.bool)
    start = float(((head(h, mask).squeeze(-1) - target) ** 2).mean())
    scores_before = head.pool.score.weight.detach().clone()
    for _ in range(300):
        optimiser.zero_grad()
        loss = ((head(h, mask).squeeze(-1) - target) ** 2).mean()
        loss.backward()
        optimiser.step()
    assert float(loss) < 0.1 * start
    assert not torch.equal(head.pool.score.weight, scores_before)  # the pooling itself trained


@pytest.mark.parametrize("kind", ["gru", "lstm", "stats", "attention"])
def test_every_head_ignores_padding(kind):
    torch.manual_seed(0)
    head = SequenceHead(kind, 8, 3, 4, 1, 0.0).eval()
    h = torch.randn(1, 7, 8)
    mask = torch.tensor([[True] * 4 + [False] * 3])
    padded = h.clone()
    padded[0, 4:] = 5.0
    assert torch.allclose(head(h, mask), head(padded, mask), atol=1e-6)

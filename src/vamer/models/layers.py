"""Pieces shared by the three models."""

from __future__ import annotations

import torch
from torch import nn


def encoder_stack(d_model: int, heads: int, ffn: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    """Post-LN Transformer encoder (as the method's blocks), batch first."""
    layer = nn.TransformerEncoderLayer(d_model, heads, ffn, dropout, batch_first=True, norm_first=False)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def never_empty(mask: torch.Tensor) -> torch.Tensor:
    """A copy of ``mask`` [B, L] where rows with no valid position keep position 0.

    Attention over a fully padded row is undefined (NaN); an utterance without text still passes
    one (zero) position, which the model learns to read as "no text".
    """
    safe = mask.clone()
    safe[~mask.any(dim=1), 0] = True
    return safe


def last_valid_step(rnn: nn.RNNBase, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run ``rnn`` over ``x`` [B, S, d] whose valid steps form a prefix (``mask`` [B, S]); return
    each row's output at its last valid step, [B, hidden].

    The RNN is unidirectional, so the output at step ``n - 1`` depends on steps ``0 .. n - 1``
    only: padding after the prefix cannot reach it.  This equals running a packed sequence, and it
    exports to ONNX.
    """
    out, _ = rnn(x)                                                  # [B, S, hidden]
    last = (mask.sum(dim=1) - 1).clamp(min=0)                        # [B]
    return out[torch.arange(out.shape[0], device=out.device), last]


def valid_first(h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder each row of ``h`` [B, S, d] so its valid positions come first, in their order;
    returns (reordered ``h``, the reordered mask, now a prefix)."""
    steps = mask.shape[1]
    # Unique keys (padding after every valid step, ties broken by position) make a plain argsort
    # stable, which keeps the graph exportable.
    key = (~mask).long() * steps + torch.arange(steps, device=mask.device)
    order = key.argsort(dim=1)                                       # [B, S]
    return torch.gather(h, 1, order.unsqueeze(-1).expand_as(h)), torch.gather(mask, 1, order)

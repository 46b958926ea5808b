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
    """Run ``rnn`` over the valid steps of each row; return each row's last output [B, hidden]."""
    lengths = mask.sum(dim=1).clamp(min=1).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _, hidden = rnn(packed)
    if isinstance(hidden, tuple):  # LSTM: (h, c)
        hidden = hidden[0]
    return hidden[-1]

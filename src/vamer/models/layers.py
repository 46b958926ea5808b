"""Pieces shared by the three models."""

from __future__ import annotations

import math

import torch
from torch import nn


def encoder_stack(d_model: int, heads: int, ffn: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    """Post-LN Transformer encoder (as the method's blocks), batch first."""
    layer = nn.TransformerEncoderLayer(d_model, heads, ffn, dropout, batch_first=True, norm_first=False)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class SinusoidalPositions(nn.Module):
    """Adds the fixed sine/cosine position code of "Attention is all you need" to ``h`` [B, S, d].

    Self-attention alone is blind to order; without this a Transformer sees a clip as a bag of frames.

    >>> code = SinusoidalPositions(8)
    >>> tuple(code(torch.zeros(2, 5, 8)).shape)
    (2, 5, 8)
    """

    def __init__(self, d_model: int, max_positions: int = 4096) -> None:
        super().__init__()
        position = torch.arange(max_positions, dtype=torch.float).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_positions, d_model)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.table[: h.shape[1]]


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
    out, _ = rnn(x)  # [B, S, hidden]
    last = (mask.sum(dim=1) - 1).clamp(min=0)  # [B]
    return out[torch.arange(out.shape[0], device=out.device), last]


def valid_first(h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder each row of ``h`` [B, S, d] so its valid positions come first, in their order;
    returns (reordered ``h``, the reordered mask, now a prefix)."""
    steps = mask.shape[1]
    # Unique keys (padding after every valid step, ties broken by position) make a plain argsort
    # stable, which keeps the graph exportable.
    key = (~mask).long() * steps + torch.arange(steps, device=mask.device)
    order = key.argsort(dim=1)  # [B, S]
    return torch.gather(h, 1, order.unsqueeze(-1).expand_as(h)), torch.gather(mask, 1, order)


def statistics_pooling(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean and standard deviation over the valid positions: ``h`` [B, S, d] -> [B, 2d].

    The neural counterpart of the classic baseline's clip-level statistics.

    >>> h = torch.tensor([[[1.0], [3.0], [99.0]]])
    >>> statistics_pooling(h, torch.tensor([[True, True, False]]))
    tensor([[2.0000, 1.0000]])
    """
    weight = mask.to(h.dtype).unsqueeze(-1)  # [B, S, 1]
    count = weight.sum(dim=1).clamp(min=1.0)  # [B, 1]
    mean = (h * weight).sum(dim=1) / count  # [B, d]
    variance = (((h - mean.unsqueeze(1)) ** 2) * weight).sum(dim=1) / count
    return torch.cat([mean, (variance + 1e-6).sqrt()], dim=-1)


class AttentionPooling(nn.Module):
    """A learned softmax weighting of the valid positions: [B, S, d] -> [B, d]."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.score = nn.Linear(d_model, 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))  # [B, S]
        return (scores.softmax(dim=1).unsqueeze(-1) * h).sum(dim=1)  # [B, d]


class SequenceHead(nn.Module):
    """Sequence [B, S, d] with a prefix mask -> one vector per row -> ``outputs`` values.

    ``kind``: ``gru`` / ``lstm`` (the method: a recurrent net, output at the last valid step),
    ``stats`` (mean + std over valid positions and the first position, then a small MLP) or
    ``attention`` (attention pooling, then a small MLP).  The first position is where the audio
    encoder puts its summary tokens (eGeMAPS, a speech model's layer mix): averaged with hundreds of
    frames they would be diluted, read on their own they reach the classifier intact.
    """

    def __init__(self, kind: str, d_model: int, outputs: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.kind = kind
        if kind in ("gru", "lstm"):
            rnn = nn.GRU if kind == "gru" else nn.LSTM
            self.rnn = rnn(d_model, hidden, layers, batch_first=True)
            self.out: nn.Module = nn.Linear(hidden, outputs)
            return
        if kind == "attention":
            self.pool = AttentionPooling(d_model)
            width = d_model
        elif kind == "stats":
            width = 3 * d_model
        else:
            raise ValueError(f"unknown head {kind!r}")
        self.out = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, outputs)
        )

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h [B, S, d], mask [B, S] (valid positions first when recurrent) -> [B, outputs]."""
        if self.kind in ("gru", "lstm"):
            return self.out(last_valid_step(self.rnn, h, mask))
        if self.kind == "stats":
            pooled = torch.cat([statistics_pooling(h, mask), h[:, 0]], dim=-1)  # [B, 3d]
        else:
            pooled = self.pool(h, mask)
        return self.out(pooled)


class RatingHead(nn.Module):
    """A regression head on the rating scale: trained on standardised targets, the scale (mean,
    std of the training split's ratings) is kept as buffers so predictions come back in rating units
    and the bundle carries the scale with the weights."""

    def __init__(self, kind: str, d_model: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.head = SequenceHead(kind, d_model, 1, hidden, layers, dropout)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def set_scale(self, mean: float, std: float) -> None:
        self.target_mean.fill_(float(mean))
        self.target_std.fill_(max(float(std), 1e-6))

    def standardised(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, S, d] -> [B] in standard units (what the loss sees)."""
        return self.head(h, mask).squeeze(-1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, S, d] -> [B] on the rating scale."""
        return self.standardised(h, mask) * self.target_std + self.target_mean

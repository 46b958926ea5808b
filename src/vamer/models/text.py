"""Text block: token vectors (or ids) -> projection -> Transformer -> (GRU head -> valence).

Shapes (paper preset: frozen KoBERT-like embedder, d_in = 768, d = 768, L = 64):

    x     [B, L, d_in]  frozen encoder outputs (or [B, L] ids for a learned embedding)
    proj  [B, L, d]     linear (identity when d_in == d); then sinusoidal positions when enabled
    enc   [B, L, d]     post-LN Transformer with a padding mask
    head  [B]           2-layer GRU over valid tokens, last step -> Linear(1) (the method), or
                        statistics / attention pooling -> MLP; on the rating scale

An utterance without text keeps position 0 open (see ``never_empty``).

>>> import torch
>>> block = TextEncoder(EncoderConfig(d_model=16, heads=2, ffn=32, layers=1), input_dim=512)
>>> out, mask = block(torch.randn(2, 64, 512), torch.zeros(2, 64, dtype=torch.bool))
>>> tuple(out.shape), bool(out.isnan().any())
((2, 64, 16), False)
"""

from __future__ import annotations

import torch
from torch import nn

from vamer.models.config import EncoderConfig
from vamer.models.layers import RatingHead, SinusoidalPositions, encoder_stack, never_empty


class TextEncoder(nn.Module):
    def __init__(self, config: EncoderConfig, input_dim: int | None = None, vocab_size: int | None = None) -> None:
        super().__init__()
        if (input_dim is None) == (vocab_size is None):
            raise ValueError("give input_dim (frozen token vectors) or vocab_size (learned embedding)")
        if vocab_size is not None:
            self.embed: nn.Module = nn.Embedding(vocab_size, config.d_model, padding_idx=0)
        elif input_dim == config.d_model:
            self.embed = nn.Identity()
        else:
            self.embed = nn.Linear(input_dim, config.d_model)
        self.positions = SinusoidalPositions(config.d_model) if config.positional else nn.Identity()
        self.encoder = encoder_stack(config.d_model, config.heads, config.ffn, config.layers, config.dropout)
        self.d_model = config.d_model

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, L, d_in] or [B, L] ids, mask [B, L] -> (features [B, L, d], mask [B, L])."""
        h = self.positions(self.embed(x))  # [B, L, d]
        h = self.encoder(h, src_key_padding_mask=~never_empty(mask))
        return h, mask


class ValenceRegressor(nn.Module):
    """Text -> valence (the method's text pretraining), on the rating scale."""

    def __init__(self, config: EncoderConfig, input_dim: int | None = None, vocab_size: int | None = None) -> None:
        super().__init__()
        self.encoder = TextEncoder(config, input_dim, vocab_size)
        self.head = RatingHead(config.head, config.d_model, config.gru_hidden, config.gru_layers, config.dropout)

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """-> [B] valence (or, with ``standardised``, in the training split's standard units)."""
        h, _ = self.encoder(text, text_mask)  # [B, L, d]
        mask = never_empty(text_mask)
        return self.head.standardised(h, mask) if standardised else self.head(h, mask)

"""Audio block: mel + delta -> CNN with 1-D kernels -> Transformer -> (GRU head -> arousal).

Shapes (paper preset: c = (8, 24), d = 768, T = 512, pool = 1):

    x     [B, 2, T, 128]   mel and delta
    conv  [B, c2, T, 32]   four Conv2d, kernels along the mel axis only, so time is kept
    seq   [B, T, c2*32]    channels x mel bins become the feature axis (24 * 32 = 768)
    pool  [B, T/p, c2*32]  optional average pooling over time (the cpu preset's main saving)
    proj  [B, T/p, d]      linear, only when c2*32 != d
    enc   [B, T/p, d]      post-LN Transformer with a padding mask
    head  [B]              2-layer GRU over valid steps, last step -> Linear(1)

>>> import torch
>>> block = AudioEncoder(AudioBlockConfig(channels=(2, 4), time_pool=2, d_model=16, heads=2, ffn=32, layers=1))
>>> out, mask = block(torch.randn(3, 2, 20, 128), torch.ones(3, 20, dtype=torch.bool))
>>> tuple(out.shape), tuple(mask.shape)
((3, 10, 16), (3, 10))
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vamer.models.config import AudioBlockConfig
from vamer.models.layers import encoder_stack, last_valid_step, never_empty

MEL_BINS_AFTER_CNN = 32  # 128 mel bins, halved twice by the stride-2 convolutions


class AudioEncoder(nn.Module):
    def __init__(self, config: AudioBlockConfig) -> None:
        super().__init__()
        c1, c2 = config.channels
        bias = config.conv_bias
        self.cnn = nn.Sequential(
            nn.Conv2d(2, c1, (1, 4), stride=(1, 2), padding=(0, 1), bias=bias), nn.ReLU(),
            nn.Conv2d(c1, c1, (1, 7), padding=(0, 3), bias=bias), nn.ReLU(),
            nn.Conv2d(c1, c2, (1, 4), stride=(1, 2), padding=(0, 1), bias=bias), nn.ReLU(),
            nn.Conv2d(c2, c2, (1, 7), padding=(0, 3), bias=bias), nn.ReLU(),
        )
        width = c2 * MEL_BINS_AFTER_CNN
        self.pool = config.time_pool
        self.proj = nn.Identity() if width == config.d_model else nn.Linear(width, config.d_model)
        self.encoder = encoder_stack(config.d_model, config.heads, config.ffn, config.layers, config.dropout)
        self.d_model = config.d_model

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, 2, T, 128], mask [B, T] (True = real frame) -> (features [B, T', d], mask [B, T'])."""
        keep = mask[:, None, :, None]
        h = self.cnn(x * keep) * keep                     # [B, c2, T, 32]; padded frames exactly zero
        h = h.permute(0, 2, 1, 3).flatten(2)              # [B, T, c2*32]
        if self.pool > 1:
            # Mean over the valid frames of each window only, so padding never dilutes the last one.
            weight = F.avg_pool1d(mask.float().unsqueeze(1), self.pool, ceil_mode=True)       # [B, 1, T']
            h = F.avg_pool1d(h.transpose(1, 2), self.pool, ceil_mode=True)                  # [B, c2*32, T']
            h = (h / weight.clamp(min=1e-6)).transpose(1, 2)                                 # [B, T', c2*32]
            mask = weight.squeeze(1) > 0
        h = self.proj(h)                                  # [B, T', d]
        h = self.encoder(h, src_key_padding_mask=~never_empty(mask))
        return h, mask


class ArousalRegressor(nn.Module):
    """Audio -> arousal (the method's audio pretraining)."""

    def __init__(self, config: AudioBlockConfig) -> None:
        super().__init__()
        self.encoder = AudioEncoder(config)
        self.gru = nn.GRU(config.d_model, config.gru_hidden, config.gru_layers, batch_first=True)
        self.out = nn.Linear(config.gru_hidden, 1)

    def forward(self, audio: torch.Tensor, audio_mask: torch.Tensor) -> torch.Tensor:
        h, mask = self.encoder(audio, audio_mask)         # [B, T', d]
        return self.out(last_valid_step(self.gru, h, mask)).squeeze(-1)  # [B]

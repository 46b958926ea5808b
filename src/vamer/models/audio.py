"""Audio block: mel + delta -> CNN -> Transformer -> (head -> arousal).

Shapes (paper preset: cnn "mel_1d", c = (8, 24), d = 768, T = 512, pool = 1):

    x     [B, 2, T, 128]   mel and delta (standardised per channel and mel bin when fitted)
    conv  [B, c, T, F]     "mel_1d": the method's four Conv2d with kernels along the mel axis only
                           (c = c2, F = 32); "conv2d": three 3x3 blocks over time and mel with batch
                           norm and pooling along mel (c = c2, F = 8)
    seq   [B, T, c*F]      channels x mel bins become the feature axis (24 * 32 = 768)
    pool  [B, T/p, c*F]    optional average pooling over time (the cpu preset's main saving)
    proj  [B, T/p, d]      linear, only when c*F != d; then sinusoidal positions when enabled
    func  [B, 1+T/p, d]    with clip functionals (eGeMAPS, [B, 88]): standardised, projected and put
                           first as one more token (valid in every clip)
    up    [B, 1+..., d]    with a frozen speech model (upstream [B, rows, hidden]): "mix", a
                           softmax-weighted sum over its layers (SUPERB; hf: models' per-layer time
                           averages) then layer norm, or "concat", every row side by side [B,
                           rows*hidden] (GE2E's layer means, stds and embedding) standardised with the
                           training split's statistics; projected, put first as one more token (the
                           stats head also reads position 0; with summary_skip it leaves the
                           Transformer as it entered)
    enc   [B, (k+)T/p, d]  post-LN Transformer with a padding mask
    head  [B]              GRU (the method), statistics or attention pooling -> arousal

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

from vamer.models.config import AudioBlockConfig, mel_bins_after_cnn
from vamer.models.layers import RatingHead, SinusoidalPositions, encoder_stack, never_empty

N_MELS = 128  # the method's


class _MaskedConv2dBlocks(nn.Module):
    """Three 3x3 Conv2d + BatchNorm + ReLU blocks, pooling along mel only (time is kept).

    Padded frames are zeroed after every block, so a clip's valid frames see the same zeros at
    their edge whether the batch was padded further or not.
    """

    def __init__(self, c1: int, c2: int, bias: bool) -> None:
        super().__init__()
        widths = (2, c1, c2, c2)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=bias),
                nn.BatchNorm2d(widths[i + 1]),
                nn.ReLU(),
                nn.MaxPool2d((1, 2 if i < 2 else 4)),
            )
            for i in range(3)
        )

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x) * keep
        return x


def usable_scale(std: torch.Tensor, floor: float = 1e-4) -> torch.Tensor:
    """A training split's standard deviations as divisors: a value (nearly) constant over the split
    keeps scale 1, as scikit-learn's StandardScaler does.  Clamping it to a tiny floor instead once
    multiplied a GE2E unit that was silent in every training speaker but not in a test speaker by a
    million, and the fold predicted one class.

    >>> usable_scale(torch.tensor([2.0, 0.0, 1e-7])).tolist()
    [2.0, 1.0, 1.0]
    """
    return torch.where(std > floor, std, torch.ones_like(std))


def _prepend(token: torch.Tensor, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Put a summary ``token`` [B, d] first in ``h`` [B, S, d], valid in every row."""
    return torch.cat([token.unsqueeze(1), h], dim=1), torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)


class AudioEncoder(nn.Module):
    def __init__(
        self,
        config: AudioBlockConfig,
        functionals_dim: int = 0,
        upstream_shape: tuple[int, int] = (0, 0),
        n_mels: int = N_MELS,
    ) -> None:
        super().__init__()
        c1, c2 = config.channels
        bias = config.conv_bias
        self.frontend = config.cnn
        if config.cnn == "mel_1d":
            self.cnn: nn.Module = nn.Sequential(
                nn.Conv2d(2, c1, (1, 4), stride=(1, 2), padding=(0, 1), bias=bias),
                nn.ReLU(),
                nn.Conv2d(c1, c1, (1, 7), padding=(0, 3), bias=bias),
                nn.ReLU(),
                nn.Conv2d(c1, c2, (1, 4), stride=(1, 2), padding=(0, 1), bias=bias),
                nn.ReLU(),
                nn.Conv2d(c2, c2, (1, 7), padding=(0, 3), bias=bias),
                nn.ReLU(),
            )
        else:
            self.cnn = _MaskedConv2dBlocks(c1, c2, bias)
        width = c2 * mel_bins_after_cnn(config.cnn, n_mels)
        self.pool = config.time_pool
        self.proj = nn.Identity() if width == config.d_model else nn.Linear(width, config.d_model)
        self.positions = SinusoidalPositions(config.d_model) if config.positional else nn.Identity()
        self.encoder = encoder_stack(config.d_model, config.heads, config.ffn, config.layers, config.dropout)
        self.d_model = config.d_model
        # Input standardisation, fitted on the training split (identity until then); buffers, so the
        # bundle carries them.
        self.n_mels = n_mels
        self.register_buffer("input_mean", torch.zeros(2, 1, n_mels))
        self.register_buffer("input_std", torch.ones(2, 1, n_mels))
        self.functionals_dim = functionals_dim
        if functionals_dim:
            self.functionals = nn.Sequential(nn.Linear(functionals_dim, config.d_model), nn.ReLU())
            self.register_buffer("functionals_mean", torch.zeros(functionals_dim))
            self.register_buffer("functionals_std", torch.ones(functionals_dim))

        self.upstream_shape = tuple(upstream_shape)
        self.upstream_read = config.upstream_read
        if self.upstream_shape[0]:
            layers, hidden = self.upstream_shape
            if self.upstream_read == "mix":
                self.layer_weights = nn.Parameter(torch.zeros(layers))
                self.upstream = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, config.d_model), nn.ReLU())
            else:
                # Rows of different kinds and scales (means, stds, an embedding): standardised per value
                # with the training split's statistics, as a linear probe would be.
                self.register_buffer("upstream_mean", torch.zeros(layers, hidden))
                self.register_buffer("upstream_std", torch.ones(layers, hidden))
                self.upstream = nn.Sequential(
                    nn.Dropout(config.dropout), nn.Linear(layers * hidden, config.d_model), nn.ReLU()
                )
        self.summary_skip = config.summary_skip

    def set_functionals_scale(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardisation of the clip functionals, ``[F]`` each, fitted on the training split."""
        self.functionals_mean.copy_(mean)
        self.functionals_std.copy_(usable_scale(std))

    def set_upstream_scale(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardisation of the frozen encoder's states read side by side, ``[rows, hidden]`` each."""
        self.upstream_mean.copy_(mean)
        self.upstream_std.copy_(usable_scale(std))

    def set_input_scale(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per channel (mel, delta) and mel bin: ``mean``, ``std`` [2, n_mels]."""
        self.input_mean.copy_(mean.reshape(2, 1, self.n_mels))
        self.input_std.copy_(std.reshape(2, 1, self.n_mels).clamp(min=1e-3))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        functionals: torch.Tensor | None = None,
        upstream: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, 2, T, n_mels], mask [B, T] (True = real frame), functionals [B, F] and upstream
        [B, layers, hidden] when the encoder reads them -> (features [B, T', d], mask [B, T'])."""
        keep = mask[:, None, :, None]
        x = (x - self.input_mean) / self.input_std * keep  # padded frames exactly zero
        if self.frontend == "mel_1d":
            h = self.cnn(x) * keep  # [B, c2, T, 32]
        else:
            h = self.cnn(x, keep)  # [B, c2, T, 8]
        h = h.permute(0, 2, 1, 3).flatten(2)  # [B, T, c*F]
        if self.pool > 1:
            # Mean over the valid frames of each window only, so padding never dilutes the last one.
            weight = F.avg_pool1d(mask.float().unsqueeze(1), self.pool, ceil_mode=True)  # [B, 1, T']
            h = F.avg_pool1d(h.transpose(1, 2), self.pool, ceil_mode=True)  # [B, c*F, T']
            h = (h / weight.clamp(min=1e-6)).transpose(1, 2)  # [B, T', c*F]
            mask = weight.squeeze(1) > 0
        h = self.positions(self.proj(h))  # [B, T', d]
        if self.functionals_dim:
            if functionals is None or functionals.shape[-1] != self.functionals_dim:
                raise ValueError(f"this audio encoder reads {self.functionals_dim} clip functionals per utterance")
            token = self.functionals((functionals - self.functionals_mean) / self.functionals_std)  # [B, d]
            h, mask = _prepend(token, h, mask)  # [B, 1+T', d]
        if self.upstream_shape[0]:
            if upstream is None or tuple(upstream.shape[1:]) != self.upstream_shape:
                raise ValueError(f"this audio encoder reads upstream states shaped {self.upstream_shape}")
            if self.upstream_read == "mix":
                summary = (self.layer_weights.softmax(dim=0)[None, :, None] * upstream).sum(dim=1)  # [B, hidden]
            else:
                summary = ((upstream - self.upstream_mean) / self.upstream_std).flatten(1)  # [B, rows*hidden]
            h, mask = _prepend(self.upstream(summary), h, mask)  # [B, 1+..., d]
        entering = h
        h = self.encoder(h, src_key_padding_mask=~never_empty(mask))
        if self.summary_skip and (self.functionals_dim or self.upstream_shape[0]):
            h = torch.cat([entering[:, :1], h[:, 1:]], dim=1)  # the summary token, intact, for the head
        return h, mask


class ArousalRegressor(nn.Module):
    """Audio -> arousal (the method's audio pretraining), on the rating scale."""

    def __init__(self, encoder: AudioEncoder, config: AudioBlockConfig) -> None:
        super().__init__()
        self.encoder = encoder  # built by the caller with the inputs it reads
        self.head = RatingHead(config.head, config.d_model, config.gru_hidden, config.gru_layers, config.dropout)

    def forward(
        self,
        audio: torch.Tensor,
        audio_mask: torch.Tensor,
        functionals: torch.Tensor | None = None,
        upstream: torch.Tensor | None = None,
        standardised: bool = False,
    ) -> torch.Tensor:
        """-> [B] arousal (or, with ``standardised``, in the training split's standard units)."""
        h, mask = self.encoder(audio, audio_mask, functionals, upstream)  # [B, T', d]
        return self.head.standardised(h, mask) if standardised else self.head(h, mask)

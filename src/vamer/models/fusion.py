"""Fusion classifier: the two pretrained encoders (heads removed) -> one sequence -> Transformer ->
LSTM (the method) or attention pooling -> emotion logits.

Shapes (paper preset: T' = 512, L = 64, d = 768, 5 classes):

    audio  [B, T', d]      AudioEncoder output (frozen or fine-tuned)
    text   [B, L, d]       TextEncoder output
    seq    [B, T'+L, d]    concatenated, plus a learned embedding per modality
    enc    [B, T'+L, d]    post-LN Transformer over both, with the joint padding mask
    head   [B, classes]    2-layer LSTM(128) over valid positions, last step -> Linear (the
                           method); or statistics / attention pooling -> MLP

Encoders are trainable when built; ``freeze`` fixes the ones that were pretrained (the method
freezes both after pretraining; an encoder that was not pretrained is never frozen).

>>> import torch
>>> from vamer.models.config import AudioBlockConfig, EncoderConfig, FusionConfig
>>> small = dict(d_model=16, heads=2, ffn=32, layers=1)
>>> audio = AudioEncoder(AudioBlockConfig(channels=(2, 4), time_pool=4, **small))
>>> text = TextEncoder(EncoderConfig(**small), input_dim=512)
>>> model = FusionClassifier(audio, text, FusionConfig(heads=2, ffn=32, layers=1, lstm_hidden=8), n_classes=5)
>>> logits = model(torch.randn(2, 2, 64, 128), torch.ones(2, 64, dtype=torch.bool),
...                torch.randn(2, 8, 512), torch.ones(2, 8, dtype=torch.bool))
>>> tuple(logits.shape)
(2, 5)
"""

from __future__ import annotations

import torch
from torch import nn

from vamer.models.audio import AudioEncoder
from vamer.models.config import FusionConfig
from vamer.models.layers import SequenceHead, encoder_stack, never_empty, valid_first
from vamer.models.text import TextEncoder


class FusionClassifier(nn.Module):
    def __init__(self, audio: AudioEncoder, text: TextEncoder, config: FusionConfig, n_classes: int) -> None:
        super().__init__()
        if audio.d_model != text.d_model:
            raise ValueError(f"audio d_model {audio.d_model} != text d_model {text.d_model}")
        d = audio.d_model
        self.audio, self.text = audio, text
        self.frozen: tuple[str, ...] = ()
        self.modality = nn.Embedding(2, d)
        self.encoder = encoder_stack(d, config.heads, config.ffn, config.layers, config.dropout)
        self.head_kind = config.head
        self.summary_skip = config.summary_skip
        self.head = SequenceHead(config.head, d, n_classes, config.lstm_hidden, config.lstm_layers, config.dropout)

    def freeze(self, audio: bool, text: bool) -> None:
        """Stop training the named encoders (their weights, dropout and batch-norm statistics)."""
        self.frozen = tuple(name for name, flag in (("audio", audio), ("text", text)) if flag)
        for name in self.frozen:
            for parameter in getattr(self, name).parameters():
                parameter.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "FusionClassifier":
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self

    def encode(
        self, audio: torch.Tensor, audio_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor, *clip
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoders' part: -> audio [B, T', d], its mask [B, T'], text [B, L, d], its mask [B, L].
        ``clip``: the clip-level audio inputs the audio encoder reads, functionals [B, F] and a frozen
        encoder's upstream states [B, rows, hidden] (either may be None)."""
        a, a_mask = self.audio(audio, audio_mask, *clip)  # [B, T', d], [B, T']
        t, _ = self.text(text, text_mask)  # [B, L, d]
        return a, a_mask, t, never_empty(text_mask)

    def fuse(self, a: torch.Tensor, a_mask: torch.Tensor, t: torch.Tensor, t_mask: torch.Tensor) -> torch.Tensor:
        """The fusion block's part, from :meth:`encode`'s outputs -> logits [B, classes].  With both
        encoders frozen, training can encode every utterance once and run only this."""
        a = a + self.modality.weight[0]
        t = t + self.modality.weight[1]
        h = torch.cat([a, t], dim=1)  # [B, T'+L, d]
        mask = torch.cat([a_mask, t_mask], dim=1)  # [B, T'+L]
        entering = h
        h = self.encoder(h, src_key_padding_mask=~mask)
        if self.summary_skip:
            h = torch.cat([entering[:, :1], h[:, 1:]], dim=1)  # the audio summary token, intact
        if self.head_kind == "lstm":
            # The LSTM reads the valid positions in order: audio frames, then text tokens.
            h, mask = valid_first(h, mask)
        return self.head(h, mask)  # [B, classes]

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        """The inputs of :meth:`encode` -> logits [B, classes]."""
        return self.fuse(*self.encode(*inputs))

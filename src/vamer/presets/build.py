"""The three models of a preset, and what one utterance costs them.

>>> from vamer.presets import load_preset
>>> models = build_models(load_preset("tiny"), n_classes=5)
>>> sorted(models)
['arousal', 'fusion', 'valence']
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from vamer.features.upstream import upstream_shape
from vamer.models.audio import ArousalRegressor, AudioEncoder
from vamer.models.fusion import FusionClassifier
from vamer.models.text import ValenceRegressor
from vamer.presets import Preset, functionals_dim


def build_models(
    preset: Preset, n_classes: int, text_dim: int | None = 512, vocab_size: int | None = None
) -> dict[str, torch.nn.Module]:
    """The three models of a preset, untrained and trainable; fusion shares the regressors'
    encoder objects (freezing them is the fusion stage's decision, after pretraining)."""
    audio = AudioEncoder(
        preset.audio_block,
        functionals_dim(preset),
        upstream_shape(preset.audio_features.upstream),
        preset.audio_features.n_mels,
    )
    arousal = ArousalRegressor(audio, preset.audio_block)
    valence = ValenceRegressor(preset.text_block, input_dim=None if vocab_size else text_dim, vocab_size=vocab_size)
    fusion = FusionClassifier(arousal.encoder, valence.encoder, preset.fusion, n_classes)
    return {"arousal": arousal, "valence": valence, "fusion": fusion}


def flops_per_utterance(
    preset: Preset, n_classes: int = 5, text_dim: int = 512, frames: int | None = None, tokens: int | None = None
) -> dict[str, Any]:
    """Forward FLOPs of one utterance per model, counted by PyTorch's FlopCounterMode (matmuls and
    convolutions): full length by default (all frames and tokens valid), or ``frames`` x ``tokens``."""
    models = build_models(preset, n_classes, text_dim)
    frames, length = frames or preset.audio_features.max_frames, tokens or preset.text.max_length
    audio = torch.randn(1, 2, frames, preset.audio_features.n_mels)
    audio_mask = torch.ones(1, frames, dtype=torch.bool)
    text = torch.randn(1, length, text_dim)
    text_mask = torch.ones(1, length, dtype=torch.bool)
    functionals = torch.randn(1, functionals_dim(preset)) if functionals_dim(preset) else None
    layers, hidden = upstream_shape(preset.audio_features.upstream)
    upstream = torch.randn(1, layers, hidden) if layers else None
    calls = {
        "arousal": (audio, audio_mask, functionals, upstream),
        "valence": (text, text_mask),
        "fusion": (audio, audio_mask, text, text_mask, functionals, upstream),
    }
    out: dict[str, Any] = {}
    # The fused inference kernel of nn.TransformerEncoderLayer is invisible to FlopCounterMode.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        for name, model in models.items():
            model.eval()
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                model(*calls[name])
            out[name] = int(counter.get_total_flops())
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    out["parameters"] = {name: int(sum(p.numel() for p in model.parameters())) for name, model in models.items()}
    return out

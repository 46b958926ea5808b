"""Presets: whole model + feature + training settings, as YAML validated by pydantic.

>>> preset = load_preset("cpu")
>>> preset.audio_block.d_model, preset.audio_features.hop_length, preset.audio_features.functionals
(128, 1024, 'egemaps')
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch.utils.flop_counter import FlopCounterMode

from vamer.config import AudioFeatureConfig, TextFeatureConfig, validated
from vamer.errors import VamerError
from vamer.features.functionals import EGEMAPS_SIZE
from vamer.features.upstream import upstream_shape
from vamer.models.audio import ArousalRegressor
from vamer.models.config import AudioBlockConfig, EncoderConfig, FusionConfig
from vamer.models.fusion import FusionClassifier
from vamer.models.text import ValenceRegressor

PRESETS = ("paper", "cpu", "tiny")


class StageTraining(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr: float = Field(2e-5, gt=0, description="learning rate (the peak of the one-cycle schedule)")
    schedule: str = Field("exponential", pattern="^(exponential|onecycle)$",
                          description="exponential: the method's ExponentialLR per epoch; onecycle: warm-up then "
                                      "cosine decay over the whole run, per step")
    gamma: float = Field(0.8, gt=0, le=1, description="ExponentialLR factor per epoch")
    warmup: float = Field(0.1, ge=0, lt=1, description="onecycle: share of the steps spent warming up")
    weight_decay: float = Field(0.0, ge=0, description="decoupled weight decay (AdamW); 0 = the method's Adam")
    epochs: int = Field(20, ge=1)
    patience: int = Field(8, ge=1)
    batch_size: int = Field(32, ge=1)
    monitor: str = Field("metric", pattern="^(metric|loss)$",
                         description="fusion: select and stop on validation macro F1 (metric) or validation loss")


class Training(BaseModel):
    model_config = ConfigDict(extra="forbid")

    balanced_sampler: bool = Field(False, description="fusion batches drawn class-balanced")
    refit: bool = Field(False, description="after fusion picks its epoch count on validation, train it again "
                                           "from the same start on train + val for that many epochs")
    class_weighted: bool = Field(False, description="class-weighted cross-entropy for fusion")
    focal_gamma: float = Field(0.0, ge=0, description="focal loss gamma for fusion (0 = cross-entropy)")
    arousal: StageTraining = StageTraining()
    valence: StageTraining = StageTraining()
    fusion: StageTraining = StageTraining()


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    audio_features: AudioFeatureConfig = AudioFeatureConfig()
    text: TextFeatureConfig = TextFeatureConfig()
    audio_block: AudioBlockConfig = AudioBlockConfig()
    text_block: EncoderConfig = EncoderConfig()
    fusion: FusionConfig = FusionConfig()
    training: Training = Training()

    @model_validator(mode="after")
    def _same_width(self) -> "Preset":
        if self.audio_block.d_model != self.text_block.d_model:
            raise ValueError("audio_block.d_model and text_block.d_model must match for fusion")
        if self.fusion.heads and self.audio_block.d_model % self.fusion.heads:
            raise ValueError("fusion.heads must divide d_model")
        return self


def load_preset(name_or_path: str | Path) -> Preset:
    """A shipped preset by name (paper, cpu, tiny) or a YAML file of your own."""
    if str(name_or_path) in PRESETS:
        text = resources.files("vamer.presets").joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise VamerError(f"unknown preset {name_or_path!r}: use {', '.join(PRESETS)} or a YAML file")
        text = path.read_text(encoding="utf-8")
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise VamerError(f"preset {name_or_path}: not valid YAML ({error})") from None
    if not isinstance(values, dict):
        raise VamerError(f"preset {name_or_path}: expected a mapping of settings")
    return validated(Preset, values)


def functionals_dim(preset: Preset) -> int:
    """How many clip functionals the audio encoder reads per utterance (0: none)."""
    return EGEMAPS_SIZE if preset.audio_features.functionals == "egemaps" else 0


def build_models(preset: Preset, n_classes: int, text_dim: int | None = 512, vocab_size: int | None = None
                 ) -> dict[str, torch.nn.Module]:
    """The three models of a preset, untrained and trainable; fusion shares the regressors'
    encoder objects (freezing them is the fusion stage's decision, after pretraining)."""
    arousal = ArousalRegressor(preset.audio_block, functionals_dim(preset), upstream_shape(preset.audio_features.upstream))
    valence = ValenceRegressor(preset.text_block, input_dim=None if vocab_size else text_dim, vocab_size=vocab_size)
    fusion = FusionClassifier(arousal.encoder, valence.encoder, preset.fusion, n_classes)
    return {"arousal": arousal, "valence": valence, "fusion": fusion}


def frames_for(preset: Preset, seconds: float) -> int:
    """How many of the preset's frames ``seconds`` of audio make (presets differ in hop length)."""
    config = preset.audio_features
    return max(1, round(seconds * config.sample_rate / config.hop_length))


def flops_per_utterance(preset: Preset, n_classes: int = 5, text_dim: int = 512, frames: int | None = None,
                        tokens: int | None = None) -> dict[str, Any]:
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
    calls = {"arousal": (audio, audio_mask, functionals, upstream), "valence": (text, text_mask),
             "fusion": (audio, audio_mask, text, text_mask, functionals, upstream)}
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

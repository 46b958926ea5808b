"""Presets: whole feature + model + training settings, shipped as YAML and validated by pydantic.

``paper`` is the method as published (GPU-sized); ``cpu-ge2e`` the default for two CPU cores:
``cpu`` with the pretrained GE2E voice encoder as one more audio token; ``cpu`` the same model
without it; ``cpu-egemaps`` ``cpu`` with openSMILE's eGeMAPS as one more audio token (slower to
predict); ``tiny`` what the tests train.  The validator refuses, at load time, a combination the
models cannot build.

>>> preset = load_preset("cpu")
>>> preset.audio_block.d_model, preset.audio_features.hop_length
(128, 1024)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from vamer.config import validated
from vamer.errors import VamerError
from vamer.features.config import AudioFeatureConfig, TextFeatureConfig
from vamer.features.functionals import EGEMAPS_SIZE
from vamer.models.config import MEL_REDUCTION, AudioBlockConfig, EncoderConfig, FusionConfig

# Each stage's settings live beside the stage; a preset composes them.
from vamer.training.config import StageTraining, Training  # noqa: F401 - StageTraining is part of a preset too

PRESETS = ("paper", "cpu-ge2e", "cpu", "cpu-egemaps", "tiny")
DEFAULT_PRESET = "cpu-ge2e"


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
        frozen = self.audio_features.upstream or self.audio_features.functionals != "none"
        if self.fusion.probe_ensemble and not frozen:
            raise ValueError(
                "fusion.probe_ensemble needs frozen audio inputs to probe (an audio encoder or functionals)"
            )
        weights = transformer_weights(self)
        if weights > MAX_TRANSFORMER_WEIGHTS:
            raise ValueError(
                f"its Transformer layers alone would hold {weights:,.0f} weights, over vamer's limit of "
                f"{MAX_TRANSFORMER_WEIGHTS:,.0f} (the paper preset's hold about 75 million)"
            )
        n_mels, cnn = self.audio_features.n_mels, self.audio_block.cnn
        reduction = MEL_REDUCTION[cnn]
        if n_mels % reduction:
            # The front's strides and pools would silently drop the top bins (or leave none).
            raise ValueError(
                f"audio_features.n_mels {n_mels} does not fit the {cnn} front, which divides the mel "
                f"axis by {reduction}: use a multiple of {reduction} (e.g. "
                f"{max(reduction, n_mels // reduction * reduction)})"
            )
        return self


MAX_TRANSFORMER_WEIGHTS = 2e9  # 8 GB of float32: past what any one machine trains


def transformer_weights(preset: Preset) -> float:
    """About how many weights the preset's Transformer layers hold (attention 4 d^2, FFN 2 d x ffn
    per layer): what a layer count of 10^9 in a hand-edited config would ask for, checked before
    anything is built."""
    d = preset.audio_block.d_model

    def stack(layers: int, ffn: int) -> float:
        return float(layers) * (4.0 * d * d + 2.0 * d * ffn)

    return (
        stack(preset.audio_block.layers, preset.audio_block.ffn)
        + stack(preset.text_block.layers, preset.text_block.ffn)
        + stack(preset.fusion.layers, preset.fusion.ffn)
    )


def load_preset(name_or_path: str | Path) -> Preset:
    """A shipped preset by name (:data:`PRESETS`) or a YAML file of your own."""
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


def frames_for(preset: Preset, seconds: float) -> int:
    """How many of the preset's frames ``seconds`` of audio make (presets differ in hop length)."""
    config = preset.audio_features
    return max(1, round(seconds * config.sample_rate / config.hop_length))


def with_encoders(preset: Preset, text_encoder: str | None = None, audio_encoder: str | None = None) -> Preset:
    """``preset`` with the text and audio encoders the command line names (validated like the YAML).

    >>> with_encoders(load_preset("cpu"), audio_encoder="ge2e").audio_features.upstream
    'ge2e'
    """
    values = preset.model_dump()
    if text_encoder:
        values["text"]["encoder"] = text_encoder
    if audio_encoder:
        values["audio_features"]["upstream"] = audio_encoder
    return validated(Preset, values)

"""Architecture settings of the three models (validated by pydantic; presets in ``vamer/presets``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# How many mel bins each CNN front divides the input's by (mel_1d: two stride-2 convolutions;
# conv2d: max-pooling along mel by 2, 2 and 4).
MEL_REDUCTION = {"mel_1d": 4, "conv2d": 16}


def mel_bins_after_cnn(cnn: str, n_mels: int) -> int:
    """Mel bins left after the ``cnn`` front: the feature axis is channels x these bins.

    >>> mel_bins_after_cnn("mel_1d", 128), mel_bins_after_cnn("conv2d", 128)
    (32, 8)
    """
    return n_mels // MEL_REDUCTION[cnn]


class EncoderConfig(BaseModel):
    """A post-LN Transformer encoder stack with a recurrent regression head (the method's blocks)."""

    model_config = ConfigDict(extra="forbid")

    d_model: int = Field(768, ge=8, le=8192)
    heads: int = Field(6, ge=1, le=256)
    ffn: int = Field(1024, ge=8, le=65_536)
    layers: int = Field(7, ge=1, le=64)
    dropout: float = Field(0.1, ge=0, lt=1)
    gru_hidden: int = Field(64, ge=1, le=8192, description="hidden width of the head (GRU, or MLP for stats/attention)")
    gru_layers: int = Field(2, ge=1, le=16)
    head: str = Field(
        "gru",
        pattern="^(gru|stats|attention)$",
        description="regression head: GRU at the last valid step (the method), mean+std or attention pooling",
    )
    positional: bool = Field(False, description="add sinusoidal positions before the Transformer (the method has none)")

    @model_validator(mode="after")
    def _heads_divide(self) -> "EncoderConfig":
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")
        return self


class AudioBlockConfig(EncoderConfig):
    """CNN front: four Conv2d with 1-D kernels along the mel axis (2 -> c1 -> c1 -> c2 -> c2)."""

    cnn: str = Field(
        "mel_1d",
        pattern="^(mel_1d|conv2d)$",
        description="mel_1d: the method's 1-D kernels along mel; conv2d: 3x3 blocks over time and mel",
    )
    channels: tuple[int, int] = (8, 24)
    conv_bias: bool = Field(
        False, description="the method's convolutions have no bias; narrow CNNs train better with one"
    )
    time_pool: int = Field(1, ge=1, le=64, description="average-pool time by this factor after the CNN")
    standardize_input: bool = Field(
        False, description="standardise mel and delta per bin with the training split's statistics (kept in the bundle)"
    )
    upstream_read: str = Field(
        "mix",
        pattern="^(mix|concat)$",
        description="how the frozen speech encoder's states [rows, hidden] become a token: "
        "mix = a learned softmax weighting of its layers (SUPERB, for hf: models); "
        "concat = every row side by side (ge2e: layer means, stds, embedding), "
        "standardised with the training split's statistics",
    )
    summary_skip: bool = Field(
        False,
        description="position 0 (the first summary token: the frozen encoder's, else "
        "eGeMAPS') leaves the Transformer as it entered, so the head "
        "reads it intact (a skip to the head); it is still context for "
        "the other positions",
    )


class FusionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heads: int = Field(6, ge=1, le=256)
    ffn: int = Field(3072, ge=8, le=65_536)
    layers: int = Field(4, ge=1, le=64)
    dropout: float = Field(0.1, ge=0, lt=1)
    head: str = Field("lstm", pattern="^(lstm|attention|stats)$")
    lstm_hidden: int = Field(128, ge=1, le=8192)
    lstm_layers: int = Field(2, ge=1, le=16)
    freeze_encoders: bool = Field(True, description="freeze the encoders that were pretrained (never random ones)")
    probe_ensemble: bool = Field(
        False,
        description="average the classifier's probabilities with a linear probe of "
        "the frozen audio inputs (a logistic regression fitted on the "
        "training split; vamer.models.probe)",
    )
    summary_skip: bool = Field(
        False,
        description="the fused position 0 (the audio encoder's first summary token) "
        "leaves the fusion Transformer as it entered: the head reads it "
        "intact",
    )

"""Settings of stage 3: audio features, the text encoder and augmentation (part of every preset).

>>> AudioFeatureConfig().n_mels, TextFeatureConfig().max_length
(128, 64)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class AudioFeatureConfig(BaseModel):
    """Mel spectrogram + delta, as in the method (DESIGN.md 1): ``[2, max_frames, n_mels]``."""

    model_config = ConfigDict(extra="forbid")

    sample_rate: int = Field(16_000, ge=4_000)
    n_mels: int = Field(128, ge=8)
    fmin: float = Field(100.0, ge=0)
    fmax: float = 8_000.0
    n_fft: int = Field(2048, ge=64)
    hop_length: int = Field(512, ge=16)
    max_frames: int = Field(512, ge=1, description="pad or crop to this many frames (512 x 512 hop = 16.4 s)")
    silence_peak: float = Field(1e-4, ge=0, description="a clip whose peak is below this is silent")
    functionals: str = Field(
        "none",
        pattern="^(none|egemaps)$",
        description="clip functionals the audio model also reads: openSMILE eGeMAPSv02 (88)",
    )
    upstream: str | None = Field(
        None,
        description="a frozen pretrained speech encoder the audio model also reads: "
        "ge2e (the voice encoder of the resemblyzer wheel), "
        "whisper-base (Whisper's encoder, mean and std over the clip) "
        "or hf:<folder or hub id> (wav2vec2 / HuBERT / WavLM, "
        "layer-weighted)",
    )

    speaker_norm: str = Field(
        "none",
        pattern="^(none|z|mean)$",
        description="speaker context: the frozen inputs (encoder states, functionals) "
        "standardised per speaker (z) or centred (mean) with that speaker's own "
        "statistics (vamer.features.speakers)",
    )
    speaker_min_clips: int = Field(5, ge=2, description="a speaker with fewer clips gets the population statistics")
    speaker_prior_clips: int = Field(
        0,
        ge=0,
        description="z: each speaker's variances are pooled with the population's as if "
        "the population had given this many more clips (0: the speaker's own)",
    )
    context_dropout: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="share of the training clips shown with the population statistics, "
        "so the model also reads a stranger's clip",
    )

    @field_validator("upstream")
    @classmethod
    def _upstream_spec(cls, value: str | None) -> str | None:
        if (
            value is not None
            and value not in ("ge2e", "whisper-base")
            and (not value.startswith("hf:") or len(value) <= 3)
        ):
            raise ValueError(f"audio encoder {value!r}: use ge2e, whisper-base or hf:<folder or hub id>")
        return value

    @model_validator(mode="after")
    def _band(self) -> "AudioFeatureConfig":
        if not self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need fmin < fmax <= sample_rate / 2, got {self.fmin}, {self.fmax}, {self.sample_rate}")
        if self.speaker_norm != "none" and not self.upstream and self.functionals == "none":
            raise ValueError("speaker_norm applies to the frozen inputs (upstream, functionals); this preset has none")
        if self.upstream in ("ge2e", "whisper-base") and self.sample_rate != 16_000:
            raise ValueError(
                f"the {self.upstream} audio encoder reads 16000 Hz audio; sample_rate is {self.sample_rate}"
            )
        return self


class TextFeatureConfig(BaseModel):
    """Which text encoder, and how many tokens it keeps."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = Field("use", description="use | hf:<folder or hub id> | trainable")
    max_length: int = Field(64, ge=2)
    sentence_token: bool = Field(False, description="use only: put USE's sentence vector first in the sequence")


class AugmentConfig(BaseModel):
    """Over-sampling of minority classes by augmentation, on the training split only."""

    model_config = ConfigDict(extra="forbid")

    policy: str = Field("none", pattern="^(none|audio|text|both)$")
    copies: dict[str, int] | None = Field(
        None, description="extra copies per class; None: from the training split's counts (see minority_ratio)"
    )
    minority_ratio: float = Field(
        0.1,
        gt=0,
        le=1,
        description="a class below this share of the largest class gets "
        "copies until it reaches it, at most max_copies each",
    )
    max_copies: int = Field(3, ge=0, description="the method's 3 extra copies per minority utterance")
    text_ratio: float = Field(0.3, gt=0, lt=1)
    mask_min_bins: int = Field(10, ge=1)
    mask_max_bins: int = Field(30, ge=1)
    seed: int = 0

"""Validated settings of a vamer run (pydantic).  Later stages add their own sections.

>>> DataConfig().classes is None     # the format's default: KEMDy's five, or a manifest's own labels
True
>>> DataConfig(classes=["Happy", "neutral", "Boredom"]).classes
['happy', 'neutral', 'boredom']
"""

from __future__ import annotations

from enum import Enum

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vamer.data.labels import label_key
from vamer.errors import VamerError

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], values: dict[str, Any]) -> Model:
    """Build ``model`` from ``values``; invalid settings become one readable VamerError."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'settings'}: {issue['msg'].removeprefix('Value error, ')}"
            for issue in error.errors()
        )
        raise VamerError(f"invalid settings: {problems}") from None


class MultiLabelPolicy(str, Enum):
    """What to do with a segment whose total evaluation names several emotions (``happy;neutral``).

    - ``drop``: skip it, reason ``multi_label`` (the default, as in the method).
    - ``first``: keep the first emotion as written.
    - ``unique_in_class``: keep it when exactly one of its emotions is in the class set.
    """

    drop = "drop"
    first = "first"
    unique_in_class = "unique_in_class"


class DataConfig(BaseModel):
    """How raw annotations become the utterance table."""

    model_config = ConfigDict(extra="forbid")

    classes: list[str] | None = Field(None, description="None: KEMDy's 5 for KEMDy formats, every label a "
                                                          "manifest holds for a manifest")
    multi_label: MultiLabelPolicy = MultiLabelPolicy.drop
    read_bio: bool = True

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        normalised = []
        for name in value:
            label = label_key(name)
            if label is None:
                raise ValueError(f"empty class name in {value!r}")
            if label in normalised:
                raise ValueError(f"emotion {label!r} listed twice")
            normalised.append(label)
        if len(normalised) < 2:
            raise ValueError("a class set needs at least two emotions")
        return normalised


class AnalysisConfig(BaseModel):
    """Settings of ``vamer analyze`` (the method's modality analysis)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of every test")
    seed: int = 0
    session: str | None = Field(None, description="session of the time plots (default: the first)")
    dtw_signal: str = "TEMP"
    k_min: int = Field(2, ge=2)
    k_max: int = Field(8, ge=2)
    max_series: int = Field(1000, ge=10, description="DTW series subsample (silhouette is O(n^2))")
    min_series_length: int = Field(4, ge=2, description="shorter segment series are skipped")
    normalize_series: bool = Field(True, description="z-normalise each series: cluster shapes, not levels")
    # Measured on the demo's 374 TEMP series: 10 + 10 iterations take 3.5 s per k where tslearn's
    # defaults (20 k-means, 100 barycenter) took 9 s, at the same inertia.
    kmeans_max_iter: int = Field(10, ge=1)
    barycenter_max_iter: int = Field(10, ge=1, description="DTW barycenter averaging iterations per k-means step")

    @field_validator("dtw_signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        from vamer.data.bio import BIO_SIGNALS

        if value.upper() not in BIO_SIGNALS:
            raise ValueError(f"unknown bio-signal {value!r}; known: {', '.join(BIO_SIGNALS)}")
        return value.upper()

    @model_validator(mode="after")
    def _k_range(self) -> "AnalysisConfig":
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) is below k_min ({self.k_min})")
        return self


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
    functionals: str = Field("none", pattern="^(none|egemaps)$",
                             description="clip functionals the audio model also reads: openSMILE eGeMAPSv02 (88)")
    upstream: str | None = Field(None, description="hf:<folder or hub id>: a frozen wav2vec2 / HuBERT / WavLM "
                                                   "whose layer-weighted states the audio model also reads")

    @field_validator("upstream")
    @classmethod
    def _upstream_spec(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("hf:") or len(value) <= 3):
            raise ValueError(f"audio encoder {value!r}: use hf:<folder or hub id>")
        return value

    @model_validator(mode="after")
    def _band(self) -> "AudioFeatureConfig":
        if not self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need fmin < fmax <= sample_rate / 2, got {self.fmin}, {self.fmax}, {self.sample_rate}")
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
    copies: dict[str, int] | None = Field(None, description="extra copies per class; None: from the training "
                                                              "split's counts (see minority_ratio)")
    minority_ratio: float = Field(0.1, gt=0, le=1, description="a class below this share of the largest class gets "
                                                             "copies until it reaches it, at most max_copies each")
    max_copies: int = Field(3, ge=0, description="the method's 3 extra copies per minority utterance")
    text_ratio: float = Field(0.3, gt=0, lt=1)
    mask_min_bins: int = Field(10, ge=1)
    mask_max_bins: int = Field(30, ge=1)
    seed: int = 0

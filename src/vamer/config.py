"""Validated settings of a vamer run (pydantic).  Later stages add their own sections.

>>> DataConfig().classes
['neutral', 'happy', 'surprise', 'angry', 'sad']
>>> DataConfig(classes=["Happy", "neutral"]).classes
['happy', 'neutral']
"""

from __future__ import annotations

from enum import Enum

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vamer.data.labels import DEFAULT_CLASSES, RAW_EMOTIONS, normalise_label
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

    classes: list[str] = list(DEFAULT_CLASSES)
    multi_label: MultiLabelPolicy = MultiLabelPolicy.drop
    read_bio: bool = True

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        normalised = []
        for name in value:
            label = normalise_label(name)
            if label is None:
                raise ValueError(f"unknown emotion {name!r}; known: {', '.join(RAW_EMOTIONS)}")
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
    kmeans_max_iter: int = Field(20, ge=1)

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

"""Settings of ``vamer analyze`` (the method's modality analysis)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vamer.data.bio import BIO_SIGNALS


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
        if value.upper() not in BIO_SIGNALS:
            raise ValueError(f"unknown bio-signal {value!r}; known: {', '.join(BIO_SIGNALS)}")
        return value.upper()

    @model_validator(mode="after")
    def _k_range(self) -> "AnalysisConfig":
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) is below k_min ({self.k_min})")
        return self

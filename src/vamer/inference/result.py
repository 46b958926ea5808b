"""One prediction's result, success and failure in one shape: what ``Predictor.predict`` returns,
what each row of ``vamer predict`` is made from, and the body the service answers
``POST /predict`` with (its OpenAPI document declares this model).

>>> PredictionResult.failure("silent", "the audio is silent").label is None
True
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PredictionResult(BaseModel):
    """A prediction, or why there is none (``error`` and ``error_kind`` set, everything else empty)."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, description="the most probable class")
    probabilities: dict[str, float] | None = Field(None, description="class -> probability")
    arousal: float | None = Field(
        None, description="predicted arousal (1-5); None when the bundle's regressor was not trained"
    )
    valence: float | None = Field(
        None,
        description="predicted valence (1-5); None without text (it is read from "
        "the words) or without a trained regressor",
    )
    duration_s: float | None = Field(None, description="seconds of audio the model used")
    audio_seconds: float | None = Field(None, description="length of the whole recording")
    truncated: bool | None = Field(None, description="the recording was longer than what the model reads")
    sample_rate: int | None = Field(None, description="of the recording (resampled to the bundle's rate)")
    channels: int | None = Field(None, description="of the recording (averaged to mono)")
    text: str | None = Field(None, description="the cleaned transcript used")
    text_source: str | None = Field(None, description="given | asr | none: where the text came from")
    audio_only: bool | None = Field(None, description="there was no text: the model ran on the audio alone")
    speaker: str | None = Field(
        None,
        description="the speaker whose statistics normalised the clip (a profile, a "
        "manifest's speaker, a timeline's cluster); None: none",
    )
    speaker_context: str | None = Field(
        None,
        description="how the clip was normalised: speaker (that speaker's "
        "statistics), population (none of the speaker's: a "
        "stranger's clip), or None when the bundle does not "
        "normalise per speaker",
    )
    notes: list[str] = Field(default_factory=list, description="anything the user should know about this result")
    engine: str | None = Field(None, description="torch | onnx")
    error: str | None = Field(None, description="why the input could not be predicted")
    error_kind: str | None = Field(None, description="that reason's code (the table of vamer.reasons)")

    @classmethod
    def failure(cls, kind: str, message: str) -> "PredictionResult":
        return cls(error=message, error_kind=str(kind))


class ErrorAnswer(BaseModel):
    """What the service answers a request it refuses (4xx, 5xx)."""

    detail: str

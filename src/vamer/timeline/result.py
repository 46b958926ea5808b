"""The typed answer of a timeline: what ``vamer predict --timeline`` writes as JSON and the service's
``POST /timeline`` returns.

A recording becomes consecutive segments that cover it from 0 to its end: ``speech`` segments carry
the model's emotion probabilities, label and ratings; ``silence`` segments carry none (silence is
never given an emotion).  The summary gives the share of speech time per emotion and the strongest
moments; the waveform is the recording's peaks, coarse enough to draw.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimelineSegment(_Strict):
    index: int
    kind: Literal["speech", "silence"]
    start_s: float
    end_s: float
    label: str | None = None  # speech the model could read
    probabilities: dict[str, float] | None = None
    arousal: float | None = None
    valence: float | None = None  # only with words (a transcript cue in the segment)
    text: str = ""
    text_source: str | None = None  # speech: given (a transcript cue) | asr | none
    speaker: str | None = None  # speech: its voice's cluster, S1, S2, ... in order of appearance
    notes: list[str] = []
    error: str | None = None  # a speech segment the model could not read
    error_kind: str | None = None

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


class Moment(_Strict):
    """A strongest moment: the segment where ``what`` peaks."""

    what: str  # "<class>" (its probability) or "arousal"
    value: float
    index: int
    start_s: float
    end_s: float


class TimelineSummary(_Strict):
    speech_s: float
    silence_s: float
    speech_segments: int
    failed_segments: int
    share: dict[str, float]  # emotion -> share of the labelled speech time
    speakers: dict[str, float] = {}  # speaker -> seconds of speech
    strongest: list[Moment]


class Waveform(_Strict):
    seconds_per_bin: float
    peaks: list[float]  # largest |sample| per bin, 0..1


class Timeline(_Strict):
    schema_version: Literal[1] = 1
    source: str
    seconds: float
    sample_rate: int
    channels: int
    classes: list[str]
    transcript: str | None  # the transcript file's name, when one was given
    segments: list[TimelineSegment]
    summary: TimelineSummary
    waveform: Waveform
    notes: list[str]

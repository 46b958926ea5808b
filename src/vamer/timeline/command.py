"""``vamer predict LONG.wav --timeline``: one recording in, its timeline out (rows, document,
figure), with progress on the terminal or in the log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vamer.errors import VamerError
from vamer.inference.intake import PredictionError
from vamer.inference.predictor import Predictor
from vamer.limits import TimelineLimits
from vamer.progress import phased_progress
from vamer.timeline.build import TimelineOptions, build_timeline
from vamer.timeline.output import check_outputs, summary_lines, write_figure, write_table
from vamer.timeline.transcript import read_transcript_file


@dataclass(frozen=True)
class TimelineRequest:
    """What ``vamer predict`` was asked about timelines."""

    enabled: bool = False
    transcript: Path | None = None
    figure: Path | None = None
    max_seconds: float = TimelineLimits().max_seconds
    speakers: int | None = None  # how many voices the recording holds (None: estimated)


def predict_timeline(
    predictor_of, inputs: list[Path], request: TimelineRequest, out: Path | None, force: bool
) -> list[str]:
    """Build the timeline of the one recording in ``inputs`` with the predictor ``predictor_of()``
    loads, write what ``request`` and ``out`` ask, and return the lines to print.  A recording or
    transcript that cannot be used is a VamerError (one line, exit 2)."""
    transcript, figure = request.transcript, request.figure
    limits = TimelineLimits(max_seconds=request.max_seconds)
    if len(inputs) != 1 or inputs[0].is_dir():
        raise VamerError("--timeline reads one recording: give one audio file")
    check_outputs(out, figure, force)  # before an hour of audio is read
    try:
        cues = read_transcript_file(transcript, limits=limits) if transcript is not None else None
    except PredictionError as error:
        raise VamerError(f"{transcript}: {error} ({error.kind})") from None
    predictor: Predictor = predictor_of()
    phases = {
        "speech": "finding speech (s of audio)",
        "words": "recognising the words",
        "speakers": "telling the voices apart",
        "emotion": "predicting segments",
    }
    try:
        with phased_progress(phases) as progress:
            options = TimelineOptions(
                limits,
                speakers=request.speakers,
                source=str(inputs[0]),
                transcript=transcript.name if transcript else None,
            )
            timeline = build_timeline(predictor, inputs[0], cues, options, progress=progress)
    except PredictionError as error:
        subject = transcript if error.kind == "transcript_past_audio" else inputs[0]
        raise VamerError(f"{subject}: {error} ({error.kind})") from None
    lines = summary_lines(timeline)
    if out is not None:
        write_table(timeline, out, force)
        lines.append(f"wrote {out} ({len(timeline.segments)} segments)")
    if figure is not None:
        write_figure(timeline, figure, force)
        lines.append(f"wrote {figure}")
    return lines

"""The decorators that give a ``vamer`` command its error handling (:func:`user_errors`) and its
option groups, each handed to it as one typed object: ``timeline`` (TimelineRequest), ``speakers``
(SpeakerChoice), ``config`` (AnalysisConfig) and ``limits`` (ServiceLimits).  A training command's
options arrive as one RunConfig (:mod:`vamer.cli.replay`)."""

from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path

import typer

from vamer.cli.options import (
    ANALYSIS_OPTIONS,
    SERVICE_OPTIONS,
    SPEAKER_OPTIONS,
    TIMELINE_OPTIONS,
    FormatChoice,
)
from vamer.errors import JobStopped, VamerError


def with_parameters(wrapper, command, drop: str, added: list[inspect.Parameter], annotations: dict):
    """``wrapper`` with ``command``'s signature, less ``drop``, plus ``added``: what Typer reads."""
    signature = inspect.signature(command)
    wrapper.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != drop] + added
    )
    wrapper.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != drop}, **annotations}
    return wrapper


def grouped(options: dict, receiver: str, build):
    """A decorator that gives a command ``options`` (name -> (annotation, option)) and hands them
    to it as one typed object, ``receiver`` = ``build(**values)``."""

    def decorate(command):
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
            for name, (annotation, option) in options.items()
        ]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            return command(*args, **{receiver: build(**{name: kwargs.pop(name) for name in options})}, **kwargs)

        return with_parameters(
            wrapper, command, receiver, added, {name: annotation for name, (annotation, _) in options.items()}
        )

    return decorate


def _timeline(timeline: bool, transcript: Path | None, figure: Path | None, max_minutes: float, speakers: int | None):
    from vamer.timeline.command import TimelineRequest

    if not timeline and (transcript or figure or speakers):
        raise VamerError(
            "--transcript, --figure and --speakers go with --timeline (one long recording -> its timeline)"
        )
    return TimelineRequest(timeline, transcript, figure, max_minutes * 60, speakers)


# ``vamer predict`` receives them as one ``timeline`` (TimelineRequest).
timeline_options = grouped(TIMELINE_OPTIONS, "timeline", _timeline)


def _speaker_choice(speaker: str | None, profile: str | None, profiles: Path | None):
    from vamer.inference.batch import SpeakerChoice

    if speaker and profile:
        raise VamerError("--speaker groups the inputs into one speaker, --profile uses a saved one: give one of them")
    return SpeakerChoice(speaker, profile, profiles)


# ``vamer predict`` receives them as one ``speakers`` (SpeakerChoice).
speaker_options = grouped(SPEAKER_OPTIONS, "speakers", _speaker_choice)


def _analysis(**values):
    from vamer.analysis.config import AnalysisConfig
    from vamer.config import validated

    return validated(AnalysisConfig, values)


# ``vamer analyze`` receives its settings as one ``config`` (AnalysisConfig).
analysis_options = grouped(ANALYSIS_OPTIONS, "config", _analysis)


def _limits(
    max_upload_mb: float,
    min_body_rate: float,
    body_timeout: float,
    header_timeout: float,
    queue_timeout: float,
    max_timeline_mb: float,
    max_timeline_minutes: float,
    **counts,
):
    from vamer.limits import ServiceLimits

    return ServiceLimits(
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        min_body_rate_bps=int(min_body_rate * 1024),
        body_timeout_s=body_timeout,
        header_timeout_s=header_timeout,
        queue_timeout_s=queue_timeout,
        max_timeline_upload_bytes=int(max_timeline_mb * 1024 * 1024),
        max_timeline_seconds=max_timeline_minutes * 60,
        **counts,
    )


# ``vamer serve`` receives its limits as one ``limits`` (ServiceLimits).
service_options = grouped(SERVICE_OPTIONS, "limits", _limits)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn a VamerError into one line and exit 2, a stop from outside into 128 + its signal, and
    anything else into a short internal-error line (``VAMER_DEBUG=1`` shows its traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except VamerError as error:
            _fail(str(error), 2)
        except JobStopped as stopped:
            _fail(
                f"{stopped}: the job did not finish; outputs finished before it are kept, nothing half-written "
                "replaces them",
                stopped.exit_code,
            )
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("VAMER_DEBUG"):
                raise
            _fail(f"internal error ({type(error).__name__}: {error}); rerun with VAMER_DEBUG=1 for details", 1)

    return wrapper


def read_dataset(path: Path, format: FormatChoice, classes: str | None, **settings):
    """The dataset a command reads (a LoadResult), from the common options: ``--format``,
    ``--classes a,b,c``, plus the command's fixed settings (``read_bio=False``, ...)."""
    from vamer.data.readers import load

    if classes:
        settings["classes"] = [name.strip() for name in classes.split(",") if name.strip()]
    return load(path, format=format.value, **settings)

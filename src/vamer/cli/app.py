"""The ``vamer`` Typer apps (the command and its ``data`` and ``speakers`` groups), which the
modules of :mod:`vamer.cli` add their commands to."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console

import vamer

app = typer.Typer(
    name="vamer",
    help="Valence-Arousal pretrained Multimodal Emotion Recognition (speech + text, Korean).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Read, check and generate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
speakers_app = typer.Typer(
    help="Speaker profiles: enrol a speaker from a few clips, list them, delete one.", no_args_is_help=True
)
app.add_typer(speakers_app, name="speakers")


def console() -> Console:
    return Console(width=max(100, Console().width))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vamer {vamer.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """vamer: train, evaluate and serve a speech + text emotion classifier."""

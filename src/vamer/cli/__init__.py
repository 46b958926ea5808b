"""The ``vamer`` command: a thin Typer front that parses options and calls one stage function or
command module (:mod:`vamer.commands`).

- :mod:`~vamer.cli.app`: the Typer apps;
- :mod:`~vamer.cli.options`: every option, declared once, and the option groups;
- :mod:`~vamer.cli.groups`: error handling and the groups handed to a command as one object;
- :mod:`~vamer.cli.replay`: a training command's one RunConfig, and ``--config`` replay;
- the commands: :mod:`~vamer.cli.data` (data, analyze), :mod:`~vamer.cli.training` (features,
  baseline, train, run, findings, sweep), :mod:`~vamer.cli.serving` (predict, export, serve),
  :mod:`~vamer.cli.speakers`.
"""

from __future__ import annotations

# isort: off
from vamer.cli import data, training, serving, speakers  # noqa: F401 - they add their commands, in help order

# isort: on
from vamer.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    from vamer.errors import install_stop_handlers

    install_stop_handlers()
    app()

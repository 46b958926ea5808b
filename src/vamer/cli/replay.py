"""How a training command gets its one :class:`~vamer.commands.config.RunConfig`: the run options it
takes (:data:`vamer.cli.options.RUN_OPTIONS`, the trainer's, the imbalance options), and with
``--config FILE`` a replayed ``config.yaml`` (:mod:`vamer.replay`) whose values stand wherever the
command line says nothing.  A replayed value goes through the very parameter that checks the
command line, before any work."""

from __future__ import annotations

import functools
import inspect
import typing
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vamer.cli.groups import with_parameters
from vamer.cli.options import IMBALANCE_OPTIONS, RUN_OPTIONS, TRAINER_OPTIONS
from vamer.errors import VamerError

# What picks the preset: when the command line names none of them, a replay keeps the recorded preset.
PRESET_OPTIONS = {"preset", "text_encoder", "audio_encoder"}
CONFIG_FILE = typer.Option(
    None, "--config", help="Replay a config.yaml an earlier command wrote; options given here override it."
)


def _restored(value, annotation):
    """A value read from ``config.yaml`` as the option's type (a Path, an Enum member, …)."""
    if value is None:
        return None
    kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)] or [annotation]
    kind = kinds[0]
    if kind is Path:
        return Path(value)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    return value


def _checked_options(options: dict, ctx: typer.Context, path: Path, given: set[str]) -> dict:
    """The options of a replayed ``config.yaml`` that the command line leaves to it, each checked
    and converted by the very parameter that checks the command line (its type, its range, its
    choices), before any work: a value the command line would refuse is refused here, in one line."""
    from vamer.replay import NOT_REPLAYED

    params = {param.name: param for param in ctx.command.params}
    unknown = sorted(set(options) - set(params) - set(NOT_REPLAYED))
    if unknown:
        raise VamerError(f"--config {path}: unknown option(s) {', '.join(unknown)} for `vamer {ctx.command.name}`")
    replayed = {}
    for key, value in options.items():
        if key in given or key in NOT_REPLAYED or value is None:
            continue
        param = params[key]
        many = getattr(param, "multiple", False) or param.nargs != 1
        if isinstance(value, dict) or (isinstance(value, list) and not many):
            raise VamerError(f"--config {path}: options.{key}: expected one value, not {value!r}")
        try:
            replayed[key] = param.process_value(ctx, value)
        except typer.BadParameter as error:
            raise VamerError(f"--config {path}: options.{key}: {error.format_message()}") from None
    return replayed


def _options(names: tuple[str, ...]) -> dict:
    """name -> (type, option) of the run options ``names`` ("trainer" and "imbalance": their groups)."""
    groups = {"trainer": TRAINER_OPTIONS, "imbalance": IMBALANCE_OPTIONS}
    options: dict = {}
    for name in names:
        options |= groups.get(name) or {name: RUN_OPTIONS[name]}
    return options


def run_options(name: str, names: tuple[str, ...], replayable: bool = True):
    """Give the command ``vamer NAME`` the run options ``names`` (and, ``replayable``, ``--config``),
    and hand them to it as one ``config`` (RunConfig), built once, here."""
    options = _options(names)

    def decorate(command):
        hints = {**typing.get_type_hints(command), **{key: kind for key, (kind, _) in options.items()}}
        added = [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
            for key, (kind, option) in options.items()
        ]
        if replayable:
            added += [
                inspect.Parameter(
                    "config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path], default=CONFIG_FILE
                ),
                inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
            ]

        @functools.wraps(command)
        def wrapper(*args, ctx: typer.Context | None = None, config_file: Path | None = None, **kwargs):
            from vamer.commands.config import run_config
            from vamer.replay import NOT_REPLAYED, as_recorded, read_config

            record = read_config(config_file, name) if config_file is not None else None
            # By name: typer carries its own copy of click, whose ParameterSource is another enum.
            given = {
                key for key in kwargs if ctx and getattr(ctx.get_parameter_source(key), "name", "") == "COMMANDLINE"
            }
            if record is not None:
                replayed = _checked_options(record.options, ctx, config_file, given)
                kwargs.update({key: _restored(value, hints.get(key)) for key, value in replayed.items()})
            if kwargs.get("path") is None:
                raise VamerError(
                    "give the dataset PATH"
                    + (f", or --config with the config.yaml of an earlier `vamer {name}`" if replayable else "")
                )
            recorded = {key: as_recorded(value) for key, value in kwargs.items() if key not in NOT_REPLAYED}
            values = {key: kwargs.pop(key) for key in options}
            keep = record is not None and not PRESET_OPTIONS & given
            preset = record.preset if keep else _preset(values)
            return command(*args, config=run_config(name, values, preset, recorded), **kwargs)

        extra = {"config_file": Optional[Path], "ctx": typer.Context} if replayable else {}
        return with_parameters(wrapper, command, "config", added, {**hints, **extra})

    return decorate


def _preset(values: dict):
    """The preset the command line names, with the encoders it names."""
    from vamer.presets import load_preset, with_encoders

    return with_encoders(load_preset(values["preset"]), values.get("text_encoder"), values.get("audio_encoder"))

"""``vamer speakers``: saved speaker profiles (:mod:`vamer.inference.profiles`), enrolled from a few
unlabelled clips of one speaker and used by ``vamer predict --profile``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vamer.cli.app import speakers_app
from vamer.cli.groups import user_errors
from vamer.cli.options import BUNDLE, PROFILES
from vamer.errors import VamerError


def _predictor(bundle: Path):
    from vamer.inference.predictor import Predictor

    return Predictor.from_bundle(bundle)


@speakers_app.command("enrol")
@user_errors
def enrol_command(
    speaker: str = typer.Argument(..., help="The profile's id: 1-64 letters, digits, '.', '_' or '-'."),
    clips: list[Path] = typer.Argument(..., help="Clips of that speaker (files or folders; labels are never read)."),
    bundle: Path = BUNDLE,
    profiles: Optional[Path] = PROFILES,
    replace: bool = typer.Option(False, "--replace", help="Replace a profile of that id."),
) -> None:
    """Enrol SPEAKER from their clips: their statistics, saved for `vamer predict --profile SPEAKER`."""
    from vamer.inference.batch import gather
    from vamer.inference.profiles import check_speaker_id

    check_speaker_id(speaker)
    predictor = _predictor(bundle)
    store = predictor.profiles(profiles)
    if not replace and any(p["speaker"] == speaker for p in store.list("")):
        raise VamerError(f"a speaker profile {speaker!r} exists in {store.path}; --replace replaces it")
    statistics, failed = predictor.enrol([request.audio for request in gather(list(clips))])
    store.save("", speaker, statistics)
    for line in failed:
        typer.echo(f"not used: {line}", err=True)
    typer.echo(f"enrolled {speaker} from {statistics.clips} clips into {store.path}")


@speakers_app.command("list")
@user_errors
def list_command(bundle: Path = BUNDLE, profiles: Optional[Path] = PROFILES) -> None:
    """The saved profiles: id, clips, when enrolled, and whether BUNDLE can use them."""
    store = _predictor(bundle).profiles(profiles)
    found = store.list("")
    for profile in found:
        usable = "" if profile["usable"] else "  (enrolled for another model: enrol again)"
        typer.echo(f"{profile['speaker']}\t{profile['clips']} clips\t{profile['updated']}{usable}")
    if not found:
        typer.echo(f"no speaker profiles in {store.path}")


@speakers_app.command("delete")
@user_errors
def delete_command(
    speaker: str = typer.Argument(..., help="The profile's id."),
    bundle: Path = BUNDLE,
    profiles: Optional[Path] = PROFILES,
) -> None:
    """Delete a saved profile."""
    store = _predictor(bundle).profiles(profiles)
    if not store.delete("", speaker):
        raise VamerError(f"no speaker profile {speaker!r} in {store.path}")
    typer.echo(f"deleted {speaker} from {store.path}")

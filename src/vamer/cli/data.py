"""``vamer data check|demo|transcribe`` and ``vamer analyze``: the commands that read a corpus
without training on it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vamer.cli.app import app, console, data_app
from vamer.cli.groups import analysis_options, read_dataset, user_errors
from vamer.cli.options import ASR, ASR_LANGUAGE, CACHE, CLASSES, DATASET, FORCE, FORMAT, OUT, SEED, FormatChoice
from vamer.data.config import MultiLabelPolicy
from vamer.errors import VamerError


@data_app.command("check")
@user_errors
def data_check(
    path: Path = DATASET,
    format: FormatChoice = FORMAT,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the numbers to this JSON file."),
    classes: Optional[str] = CLASSES,
    multi_label: MultiLabelPolicy = typer.Option(
        MultiLabelPolicy.drop, "--multi-label", help="Policy for ';'-joined emotions."
    ),
    bio: bool = typer.Option(True, "--bio/--no-bio", help="Read bio-signal folders."),
    skipped_out: Optional[Path] = typer.Option(
        None, "--skipped", help="Write every skipped row (utt_id, source, reason, detail) to this CSV."
    ),
    force: bool = FORCE,
) -> None:
    """Read a dataset and print counts per class, session and speaker, durations, bio coverage and skips."""
    from vamer.data.summary import check_dataset, check_outputs

    check_outputs(json_out, skipped_out, force)
    result = read_dataset(path, format, classes, multi_label=multi_label, read_bio=bio)
    for line in check_dataset(result, console(), json_out, skipped_out):
        typer.echo(line)


@data_app.command("demo")
@user_errors
def data_demo(
    out: Path = typer.Argument(..., help="Folder to create (must not exist, unless --force on an earlier demo)."),
    sessions: int = typer.Option(20, "--sessions", min=1, max=99, help="Number of sessions (2 speakers each)."),
    segments: int = typer.Option(20, "--segments", min=2, max=999, help="Segments per session."),
    seed: int = SEED,
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Parallel synthesis workers (default: all cores)."),
    force: bool = FORCE,
) -> None:
    """Write a SYNTHETIC corpus in the exact KEMDy20 layout (espeak-ng Korean speech)."""
    from vamer.data.demo import generate_demo

    summary = generate_demo(out, sessions=sessions, segments_per_session=segments, seed=seed, jobs=jobs, force=force)
    typer.echo(
        f"wrote synthetic KEMDy20-format demo corpus to {out}: {summary['segments']} segments, "
        f"{summary['sessions']} sessions, {summary['audio_hours']:.2f} h of audio"
    )


@data_app.command("transcribe")
@user_errors
def data_transcribe(
    path: Path = DATASET,
    out: Path = OUT,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    asr: str = ASR,
    asr_language: str = ASR_LANGUAGE,
    cache: Optional[Path] = CACHE,
    force: bool = FORCE,
) -> None:
    """Fill the empty transcripts of a corpus by offline speech recognition into a new manifest CSV
    (OUT): given text is kept as it is (text_source given), recognised words fill the rest (asr); they
    are cached per clip, so a second run, or one after a killed run, recognises only what is new.
    `vamer run` on the manifest trains the whole method."""
    from vamer.fileio import refuse_overwrite
    from vamer.speech import load_recognizer
    from vamer.speech.transcribe import transcribe_corpus

    if asr == "none":
        raise VamerError("--asr none: vamer data transcribe needs a recogniser (--asr whisper-base)")
    refuse_overwrite(out, force)  # before the corpus is read
    result = read_dataset(path, format, classes, read_bio=False)
    recognizer = load_recognizer(asr, asr_language)
    summary = transcribe_corpus(result.utterances, out, recognizer, cache, force)
    for line in summary.lines(out, f"{recognizer.name} ({recognizer.language})"):
        typer.echo(line)
    skipped = result.skipped
    if len(skipped):
        counts = skipped["reason"].value_counts()
        typer.echo(
            f"{len(skipped)} rows of the corpus were not kept by its reader ("
            + ", ".join(f"{reason} {count}" for reason, count in counts.items())
            + f"); `vamer data check {path} --skipped FILE` lists them"
        )


@app.command("analyze")
@user_errors
@analysis_options
def analyze_command(
    path: Path = DATASET,
    out: Path = OUT,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    force: bool = FORCE,
    config=None,
) -> None:
    """Arousal/valence statistics and the bio-signal study of the method, as a report in OUT
    (report.md, analysis.json, figures); the seed draws the DTW subsample and seeds k-means."""
    from vamer.analysis import analyze
    from vamer.fileio import check_replaceable

    check_replaceable(out, force, "analyze")  # fail before a long load
    result = read_dataset(path, format, classes)
    for line in analyze(result, out, config, force=force)["conclusions"]:
        typer.echo(f"- {line}")
    typer.echo(f"wrote {out / 'report.md'} and {out / 'analysis.json'}")

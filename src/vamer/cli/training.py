"""``vamer features|baseline|train|run|findings|sweep``: each parses its options into one
:class:`~vamer.commands.config.RunConfig` (:func:`vamer.cli.replay.run_options`) and calls its
module of :mod:`vamer.commands`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vamer.cli.app import app, console
from vamer.cli.groups import user_errors
from vamer.cli.options import FORCE, OUT, RESULTS, RESUME, Stage
from vamer.cli.replay import run_options

DATA = ("path", "format", "classes", "cache")


@app.command("features")
@user_errors
@run_options(
    "features", ("path", "cv", "augment", "preset", "text_encoder", "audio_encoder", "seed", *DATA), replayable=False
)
def features_command(config=None) -> None:
    """Compute (or refresh) the cached features of a preset (what `vamer run --preset` reads) and show
    each fold: sizes, leakage check, class counts before and after augmentation (drawn with the seed)."""
    from vamer.commands.folds import fold_summaries

    for line in fold_summaries(config):
        typer.echo(line)


@app.command("baseline")
@user_errors
@run_options("baseline", ("path", "cv", "preset", "audio_encoder", "seed", *DATA))
def baseline_command(out: Optional[Path] = RESULTS, force: bool = FORCE, config=None) -> None:
    """Classic baselines (MFCC/mel statistics, eGeMAPS, sentence vector -> logistic regression), a linear
    probe of the preset's pretrained audio encoder, and majority, on the folds and features `run` uses."""
    from vamer.commands.baseline import baseline

    console().print(baseline(config, out, force))  # it refuses an output it may not replace before any work


@app.command("train")
@user_errors
@run_options("train", ("path", "preset", "cv", "seed", "augment", "audio_encoder", *DATA, "trainer"))
def train_command(
    stage: Stage = typer.Argument(..., help="arousal (audio), valence (text) or fusion."),
    out: Path = OUT,
    fold: int = typer.Option(0, "--fold", min=0, help="Which fold of --cv to train on."),
    resume: bool = RESUME,
    arousal: Optional[Path] = typer.Option(None, "--arousal", help="fusion: arousal checkpoint to start from."),
    valence: Optional[Path] = typer.Option(None, "--valence", help="fusion: valence checkpoint to start from."),
    config=None,
) -> None:
    """Train one stage alone on one fold, into OUT/STAGE (checkpoints best and last, logs); --resume
    continues from its last.ckpt.  Fusion starts from the two pretrained encoders."""
    from vamer.commands.train import StageChoice, train_stage
    from vamer.evaluation.run_report import stage_findings
    from vamer.training.stages import is_global_zero

    outcome = train_stage(config, StageChoice(stage.value, fold, arousal, valence), out, resume)
    if is_global_zero():  # under DDP every process runs this command; one speaks
        for line in stage_findings(stage.value, outcome):
            typer.echo(line)


@app.command("run")
@user_errors
@run_options(
    "run",
    ("path", "preset", "cv", "seeds", "augment", "ablations", "variants", "text_encoder", "audio_encoder")
    + DATA
    + ("trainer", "imbalance"),
)
def run_command(out: Path = OUT, force: bool = FORCE, resume: bool = RESUME, config=None) -> None:
    """End to end: features -> pretrain arousal and valence -> fusion -> evaluation -> report -> bundle,
    into OUT (metrics.json, predictions.csv, report.md, bundle/).  Rerunning a killed run continues it."""
    from vamer.commands.run import run
    from vamer.evaluation.run_report import findings
    from vamer.training.stages import is_global_zero

    metrics = run(config, out, force, resume)  # it refuses an output it may not replace before any work
    if is_global_zero():  # under DDP every process runs this command; one speaks
        for line in findings(metrics.as_written()):
            typer.echo(line)
        typer.echo(f"report: {out / 'report.md'}; bundle: {out / 'bundle'}")


@app.command("findings")
@user_errors
def findings_command(run: Path = typer.Argument(..., help="A `vamer run` folder (it holds metrics.json).")) -> None:
    """Say in words what a finished run found: fusion against each modality, the baselines, the regressors."""
    from vamer.evaluation.run_report import read_findings

    for line in read_findings(run):
        typer.echo(line)


@app.command("sweep")
@user_errors
@run_options("sweep", ("path", "preset", "cv", "seeds", "augment", "audio_encoder", *DATA, "trainer"))
def sweep_command(
    out: Path = OUT,
    combos: str = typer.Option("6/6,7/6,7/5", "--layers", help="audio/text layer counts, comma-separated."),
    force: bool = FORCE,
    config=None,
) -> None:
    """The slides' layer-count study: audio x text encoder depths, compared on the same folds, into OUT
    (sweep.md, sweep.json, confusion matrices, one run folder per pair)."""
    from vamer.commands.sweep import parse_layer_pairs, run_sweep
    from vamer.evaluation.run_report import sweep_findings
    from vamer.training.stages import is_global_zero

    summary = run_sweep(config, parse_layer_pairs(combos), out, force)
    if is_global_zero():
        for line in sweep_findings(summary):
            typer.echo(line)
        typer.echo(f"wrote {out / 'sweep.md'}")

"""The ``vamer`` command: a thin Typer front that parses options and calls one stage function.

The options several commands share, and the decorators that give a command its error handling,
its trainer options and ``--config`` replay, are in :mod:`vamer.options`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

import vamer
from vamer.cli_speakers import speakers_app
from vamer.data.config import MultiLabelPolicy
from vamer.errors import VamerError
from vamer.options import (
    ASR,
    ASR_LANGUAGE,
    AUDIO_ENCODER,
    AUGMENT,
    BUNDLE,
    CACHE,
    CLASSES,
    CV,
    DATASET,
    DEVICE,
    ENGINE,
    FORCE,
    FORMAT,
    MAX_SECONDS,
    ONNX_FILE,
    OUT,
    PRESET,
    PROFILES,
    REPLAYED_DATASET,
    RESULTS,
    RESUME,
    SEED,
    SEEDS,
    TEXT_ENCODER,
    Engine,
    FormatChoice,
    Stage,
    analysis_options,
    augmentation,
    chosen_preset,
    imbalance_options,
    read_dataset,
    replayable,
    resolved_config,
    service_options,
    speaker_options,
    timeline_options,
    trainer_options,
    user_errors,
)

app = typer.Typer(
    name="vamer",
    help="Valence-Arousal pretrained Multimodal Emotion Recognition (speech + text, Korean).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Read, check and generate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(speakers_app, name="speakers")


def _console() -> Console:
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
    for line in check_dataset(result, _console(), json_out, skipped_out):
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


@app.command("features")
@user_errors
def features_command(
    path: Path = DATASET,
    cv: str = CV,
    augment: str = AUGMENT,
    preset: str = PRESET,
    text_encoder: Optional[str] = TEXT_ENCODER,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    seed: int = SEED,
    cache: Optional[Path] = CACHE,
) -> None:
    """Compute (or refresh) the cached features of a preset (what `vamer run --preset` reads) and show
    each fold: sizes, leakage check, class counts before and after augmentation (drawn with the seed)."""
    from vamer.experiment import fold_summaries

    augment_config = augmentation(augment, seed)
    chosen = chosen_preset(preset, text_encoder, audio_encoder)
    result = read_dataset(path, format, classes, read_bio=False)
    for line in fold_summaries(result, chosen, cv, augment_config, cache):
        typer.echo(line)


@app.command("baseline")
@user_errors
@replayable("baseline")
def baseline_command(
    path: Optional[Path] = REPLAYED_DATASET,
    cv: str = CV,
    out: Optional[Path] = RESULTS,
    preset: str = PRESET,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    seed: int = SEED,
    cache: Optional[Path] = CACHE,
    force: bool = FORCE,
) -> None:
    """Classic baselines (MFCC/mel statistics, eGeMAPS, sentence vector -> logistic regression), a linear
    probe of the preset's pretrained audio encoder, and majority, on the folds and features `run` uses."""
    from vamer.evaluation.report import run_baseline_report
    from vamer.fileio import check_replaceable

    if out is not None:
        check_replaceable(out, force, "baseline")
    chosen = chosen_preset(preset, None, audio_encoder)
    result = read_dataset(path, format, classes, read_bio=False)
    _console().print(run_baseline_report(result, cv, seed, cache, out, force, chosen, config=resolved_config()))


@app.command("train")
@user_errors
@replayable("train")
@trainer_options
def train_command(
    stage: Stage = typer.Argument(..., help="arousal (audio), valence (text) or fusion."),
    path: Optional[Path] = REPLAYED_DATASET,
    out: Path = OUT,
    preset: str = PRESET,
    cv: str = CV,
    fold: int = typer.Option(0, "--fold", min=0, help="Which fold of --cv to train on."),
    seed: int = SEED,
    resume: bool = RESUME,
    arousal: Optional[Path] = typer.Option(None, "--arousal", help="fusion: arousal checkpoint to start from."),
    valence: Optional[Path] = typer.Option(None, "--valence", help="fusion: valence checkpoint to start from."),
    augment: str = AUGMENT,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    trainer=None,
    cache: Optional[Path] = CACHE,
) -> None:
    """Train one stage alone on one fold, into OUT/STAGE (checkpoints best and last, logs); --resume
    continues from its last.ckpt.  Fusion starts from the two pretrained encoders."""
    from vamer.experiment import stage_findings, train_stage
    from vamer.training.stages import is_global_zero

    chosen = chosen_preset(preset, None, audio_encoder)
    augment_config = augmentation(augment)
    result = read_dataset(path, format, classes, read_bio=False)
    outcome = train_stage(
        result,
        stage.value,
        out,
        chosen,
        cv,
        fold,
        seed,
        resume,
        arousal,
        valence,
        augment_config,
        cache,
        config=resolved_config(),
        trainer=trainer,
    )
    if is_global_zero():  # under DDP every process runs this command; one speaks
        for line in stage_findings(stage.value, outcome):
            typer.echo(line)


@app.command("run")
@user_errors
@replayable("run")
@trainer_options
@imbalance_options
def run_command(
    path: Optional[Path] = REPLAYED_DATASET,
    out: Path = OUT,
    preset: str = PRESET,
    cv: str = CV,
    seeds: int = SEEDS,
    augment: str = AUGMENT,
    ablations: bool = typer.Option(
        True, "--ablations/--no-ablations", help="Also train audio-only, text-only and no-pretraining variants."
    ),
    variants: Optional[str] = typer.Option(
        None,
        "--variants",
        help="Which variants to train, comma-separated: "
        "fusion (always), audio_only, text_only, fusion_no_pretraining "
        "(default: all, or fusion alone with --no-ablations).",
    ),
    text_encoder: Optional[str] = TEXT_ENCODER,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    cache: Optional[Path] = CACHE,
    force: bool = FORCE,
    resume: bool = RESUME,
    trainer=None,
    imbalance=None,
) -> None:
    """End to end: features -> pretrain arousal and valence -> fusion -> evaluation -> report -> bundle,
    into OUT (metrics.json, predictions.csv, report.md, bundle/).  Rerunning a killed run continues it."""
    from vamer.experiment import findings, run_experiment
    from vamer.fileio import check_replaceable
    from vamer.recipe import Imbalance, parse_variants
    from vamer.training.stages import is_global_zero

    check_replaceable(out, force, "run")
    chosen_variants = parse_variants(variants)
    chosen = chosen_preset(preset, text_encoder, audio_encoder)
    augment_config = augmentation(augment)
    result = read_dataset(path, format, classes, read_bio=False)
    metrics = run_experiment(
        result,
        out,
        chosen,
        cv,
        seeds,
        augment_config,
        Imbalance.of(chosen, **imbalance),
        ablations,
        cache,
        force,
        variants=chosen_variants,
        resume=resume,
        config=resolved_config(),
        trainer=trainer,
    )
    if is_global_zero():  # under DDP every process runs this command; one speaks
        for line in findings(metrics):
            typer.echo(line)
        typer.echo(f"report: {out / 'report.md'}; bundle: {out / 'bundle'}")


@app.command("findings")
@user_errors
def findings_command(run: Path = typer.Argument(..., help="A `vamer run` folder (it holds metrics.json).")) -> None:
    """Say in words what a finished run found: fusion against each modality, the baselines, the regressors."""
    from vamer.experiment import read_findings

    for line in read_findings(run):
        typer.echo(line)


@app.command("sweep")
@user_errors
@replayable("sweep")
@trainer_options
def sweep_command(
    path: Optional[Path] = REPLAYED_DATASET,
    out: Path = OUT,
    preset: str = PRESET,
    combos: str = typer.Option("6/6,7/6,7/5", "--layers", help="audio/text layer counts, comma-separated."),
    cv: str = CV,
    seeds: int = SEEDS,
    augment: str = AUGMENT,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    cache: Optional[Path] = CACHE,
    force: bool = FORCE,
    trainer=None,
) -> None:
    """The slides' layer-count study: audio x text encoder depths, compared on the same folds, into OUT
    (sweep.md, sweep.json, confusion matrices, one run folder per pair)."""
    from vamer.experiment import parse_layer_pairs, run_sweep, sweep_findings
    from vamer.training.stages import is_global_zero

    pairs = parse_layer_pairs(combos)
    result = read_dataset(path, format, classes, read_bio=False)
    summary = run_sweep(
        result,
        out,
        chosen_preset(preset, None, audio_encoder),
        pairs,
        cv,
        seeds,
        augmentation(augment),
        cache=cache,
        force=force,
        config=resolved_config(),
        trainer=trainer,
    )
    if is_global_zero():
        for line in sweep_findings(summary):
            typer.echo(line)
        typer.echo(f"wrote {out / 'sweep.md'}")


@app.command("predict")
@user_errors
@timeline_options
@speaker_options
def predict_command(
    inputs: list[Path] = typer.Argument(None, help="Audio files and folders (searched recursively)."),
    bundle: Path = BUNDLE,
    text: Optional[str] = typer.Option(
        None, "--text", help="Transcript of the single input (else the .txt beside the wav, else audio only)."
    ),
    manifest: Optional[Path] = typer.Option(
        None, "--manifest", help="CSV/Parquet with columns audio [, text, utt_id]."
    ),
    out: Optional[Path] = RESULTS,
    engine: Engine = ENGINE,
    onnx: Optional[Path] = ONNX_FILE,
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    max_seconds: float = MAX_SECONDS,
    device: str = DEVICE,
    asr: str = ASR,
    asr_language: str = ASR_LANGUAGE,
    force: bool = FORCE,
    timeline=None,
    speakers=None,
) -> None:
    """Predict the emotion of recordings; a file that fails is reported in the output and the rest go on.
    With --timeline, one long recording becomes a timeline of its speech segments."""
    from vamer.inference.batch import check_output, gather, predict_inputs, results_table
    from vamer.inference.predictor import Predictor
    from vamer.limits import PredictionLimits
    from vamer.progress import progress_reporter

    def load() -> Predictor:
        return Predictor.from_bundle(
            bundle,
            engine.value,
            onnx,
            PredictionLimits(max_seconds=max_seconds),
            device=device,
            asr=asr,
            asr_language=asr_language,
        )

    if timeline.enabled:
        from vamer.timeline.command import predict_timeline

        for line in predict_timeline(load, list(inputs or []), timeline, out, force):
            typer.echo(line)
        return
    if out is not None:
        check_output(out, force)  # before any input is read or the model loads
    requests = gather(list(inputs or []), manifest, text, speakers.speaker)
    predictor = load()
    with progress_reporter("predicting", len(requests), quiet=len(requests) <= batch_size) as advance:
        outcome = predict_inputs(
            predictor,
            requests,
            out,
            force,
            batch_size,
            advance,
            stopped=lambda message: typer.echo(message, err=True),
            choice=speakers,
        )
    if out is not None:
        typer.echo(
            f"wrote {outcome.total} rows to {out} ({outcome.total - outcome.failed} predicted, {outcome.failed} failed)"
        )
    else:
        Console().print(results_table(outcome.rows))
    if outcome.failed:
        typer.echo(
            f"{outcome.failed} of {outcome.total} inputs could not be predicted (see the error column)", err=True
        )


@app.command("export")
@user_errors
def export_command(
    bundle: Path = BUNDLE,
    onnx: Path = typer.Option(..., "--onnx", help="The .onnx file to write."),
    int8: bool = typer.Option(False, "--int8", help="Dynamic int8 quantisation (onnxruntime)."),
    force: bool = FORCE,
) -> None:
    """Export the bundle's models as one ONNX graph (probabilities, arousal, valence) and check parity."""
    from vamer.inference.bundle import read_bundle
    from vamer.inference.export import export_onnx

    written = export_onnx(read_bundle(bundle), onnx, int8=int8, force=force)
    typer.echo(
        f"wrote {written['path']} ({written['precision']}, {written['bytes'] / 1e6:.2f} MB); max |p_torch - "
        f"p_onnx| = {written['max_abs_diff_probabilities']:.2e} on test inputs"
    )


@app.command("serve")
@user_errors
@service_options
def serve_command(
    bundle: Path = BUNDLE,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    engine: Engine = ENGINE,
    onnx: Optional[Path] = ONNX_FILE,
    max_seconds: float = MAX_SECONDS,
    max_text_chars: int = typer.Option(2000, "--max-text-chars", min=1),
    api_key_file: Optional[Path] = typer.Option(
        None, "--api-key-file", help="File holding the API key POST /predict then needs (or set VAMER_API_KEY)."
    ),
    allowed_host: Optional[list[str]] = typer.Option(
        None,
        "--allowed-host",
        help="A Host header value to answer "
        "(repeat it; default: the loopback names when --host is "
        "loopback, any otherwise).",
    ),
    device: str = DEVICE,
    profiles: Optional[Path] = PROFILES,
    asr: str = ASR,
    asr_language: str = ASR_LANGUAGE,
    limits=None,
) -> None:
    """REST service + web page: POST /predict, /timeline, PUT/GET/DELETE /speakers, GET /health, / (page), /docs."""
    from vamer.serving.server import serve

    serve(
        bundle,
        host,
        port,
        limits,
        engine.value,
        onnx,
        max_seconds,
        max_text_chars,
        device,
        api_key_file,
        allowed_host,
        say=typer.echo,
        warn=lambda line: typer.echo(line, err=True),
        profiles=profiles,
        asr=asr,
        asr_language=asr_language,
    )


def main() -> None:
    from vamer.errors import install_stop_handlers

    install_stop_handlers()
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

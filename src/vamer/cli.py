"""The ``vamer`` command: a thin Typer front that parses options and calls one stage function."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import os
import signal
import sys
import typing
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

import vamer
from vamer.data.config import MultiLabelPolicy
from vamer.errors import JobStopped, VamerError

app = typer.Typer(
    name="vamer",
    help="Valence-Arousal pretrained Multimodal Emotion Recognition (speech + text, Korean).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Read, check and generate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


class FormatChoice(str, Enum):
    auto = "auto"
    kemdy20 = "kemdy20"
    kemdy19 = "kemdy19"
    manifest = "manifest"


# Options that several commands share, declared once.
FORMAT = typer.Option(FormatChoice.auto, "--format", help="Dataset format (auto: from what PATH holds).")
DATASET = typer.Argument(..., help="KEMDy20/KEMDy19 folder or a .csv/.parquet manifest.")
REPLAYED_DATASET = typer.Argument(None, help="KEMDy20/KEMDy19 folder or a .csv/.parquet manifest (default with "
                                             "--config: the one it names).", show_default=False)
CACHE = typer.Option(None, "--cache", help="Feature cache folder (default ~/.cache/vamer).")
PRESET = typer.Option("cpu-ge2e", "--preset", help="cpu-ge2e (default: cpu + the pretrained GE2E voice encoder) | "
                                                     "cpu (fast, no pretrained encoder) | cpu-egemaps | paper | "
                                                     "tiny | a YAML file.")
AUGMENT = typer.Option("both", "--augment", help="Balancing policy: none | audio | text | both.")
AUDIO_ENCODER = typer.Option(None, "--audio-encoder", help="Override the preset's frozen audio encoder: ge2e (the "
                                                             "voice encoder in the resemblyzer wheel, offline) or "
                                                             "hf:<folder or hub id> (wav2vec2 / HuBERT / WavLM, "
                                                             "layer-weighted as in SUPERB).")
CLASSES = typer.Option(None, "--classes", help="Comma-separated class set (default: KEMDy's neutral,happy,surprise,angry,sad; "
                                                 "for a manifest, every label it holds).")
SPLIT_HELP = "session:K | speaker:K | sessions:S1,S2 | random:0.2"
TRAINING_CV = typer.Option("session:5", "--cv", help=SPLIT_HELP)
SEEDS = typer.Option(1, "--seeds", min=1, help="Training seeds per fold.")
# The trainer options of every training command: name -> (annotation, option).
HARDWARE_OPTIONS = {
    "accelerator": ("str", typer.Option("auto", "--accelerator", help="auto (a GPU when there is one) | cpu | gpu | mps.")),
    "devices": ("str", typer.Option("1", "--devices", help="Devices (processes) per node: a count, auto, or GPU ids 0,1.")),
    "strategy": ("str", typer.Option("auto", "--strategy", help="Lightning strategy: auto | ddp | ddp_spawn | fsdp | ...")),
    "num_nodes": ("int", typer.Option(1, "--num-nodes", min=1,
                                      help="Nodes for multi-node DDP (launch one process per GPU).")),
    "precision": ("Optional[str]", typer.Option(None, "--precision",
                                                help="Lightning precision, e.g. bf16-mixed, 16-mixed (default 32).")),
    "workers": ("Optional[int]", typer.Option(None, "--workers", min=0,
                                              help="Data-loader processes (default: 0 on CPU, 4 beside a GPU).")),
}


def hardware_options(command):
    """Give a training command the trainer options; it receives them as one ``hardware`` dict of
    Trainer and data-loader arguments (``devices`` as a count when it is one)."""
    signature = inspect.signature(command)
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
             for name, (annotation, option) in HARDWARE_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        hardware = {name: kwargs.pop(name) for name in HARDWARE_OPTIONS}
        devices = hardware["devices"]
        hardware["devices"] = int(devices) if devices.isdigit() else devices
        return command(*args, hardware=hardware, **kwargs)

    wrapper.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "hardware"] + added)
    wrapper.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != "hardware"},
                               **{name: annotation for name, (annotation, _) in HARDWARE_OPTIONS.items()}}
    return wrapper


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn a VamerError into one line and exit 2; anything else into a short internal-error line.

    Set VAMER_DEBUG=1 to see the traceback of an internal error.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except VamerError as error:
            _fail(str(error), 2)
        except JobStopped as stopped:
            _fail(f"{stopped}: the job did not finish; outputs finished before it are kept, nothing half-written "
                  "replaces them", stopped.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("VAMER_DEBUG"):
                raise
            _fail(f"internal error ({type(error).__name__}: {error}); rerun with VAMER_DEBUG=1 for details", 1)

    return wrapper


_REPLAY: contextvars.ContextVar[dict | None] = contextvars.ContextVar("vamer_replay", default=None)


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


def replayable(name: str):
    """Give a command ``--config FILE`` (replay a ``config.yaml``: its values stand where the command
    line says nothing) and record what it ran with, for :func:`resolved_config`."""
    def decorate(command):
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command)
        added = [inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                                   default=typer.Option(None, "--config", help="Replay a config.yaml an earlier "
                                                        f"`vamer {name}` wrote; options given here override it.")),
                 inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]

        @functools.wraps(command)
        def wrapper(*args, ctx: typer.Context, config: Optional[Path] = None, **kwargs):
            from vamer.replay import NOT_REPLAYED, as_recorded, read_config

            record = read_config(config, name) if config is not None else None
            # By name: typer carries its own copy of click, whose ParameterSource is another enum.
            given = {key for key in kwargs if getattr(ctx.get_parameter_source(key), "name", "") == "COMMANDLINE"}
            if record is not None:
                for key, value in record.options.items():
                    if key in kwargs and key not in given and key not in NOT_REPLAYED:
                        kwargs[key] = _restored(value, hints.get(key))
            if kwargs.get("path", "") is None:
                raise VamerError(f"give the dataset PATH, or --config with the config.yaml of an earlier `vamer {name}`")
            state = {"command": name, "given": given, "record": record, "preset": None,
                     "options": {key: as_recorded(value) for key, value in kwargs.items() if key not in NOT_REPLAYED}}
            token = _REPLAY.set(state)
            try:
                return command(*args, **kwargs)
            finally:
                _REPLAY.reset(token)

        wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *added])
        wrapper.__annotations__ = {**command.__annotations__, "config": Optional[Path], "ctx": typer.Context}
        return wrapper

    return decorate


def chosen_preset(preset: str, text_encoder: str | None = None, audio_encoder: str | None = None):
    """The preset a command runs with: the replayed ``config.yaml``'s (already resolved) unless the
    command line names a preset or an encoder, else ``preset`` with the encoders named."""
    from vamer.presets import load_preset

    state = _REPLAY.get()
    if state and state["record"] is not None and not {"preset", "text_encoder", "audio_encoder"} & state["given"]:
        resolved = state["record"].preset
    else:
        resolved = with_encoders(load_preset(preset), text_encoder, audio_encoder)
    if state is not None:
        state["preset"] = resolved
    return resolved


def resolved_config():
    """What the running command ran with (options and the resolved preset), for its ``config.yaml``."""
    from vamer.replay import ResolvedConfig

    state = _REPLAY.get()
    if state is None or state["preset"] is None:
        return None
    return ResolvedConfig(command=state["command"], options=state["options"], preset=state["preset"])


def with_encoders(preset, text_encoder: str | None, audio_encoder: str | None):
    """The preset with the encoders named on the command line (validated like the YAML)."""
    from vamer.config import validated
    from vamer.presets import Preset

    values = preset.model_dump()
    if text_encoder:
        values["text"]["encoder"] = text_encoder
    if audio_encoder:
        values["audio_features"]["upstream"] = audio_encoder
    return validated(Preset, values)


def _data_overrides(classes: str | None, **settings) -> dict:
    """DataConfig overrides from the common options: ``--classes a,b,c`` plus fixed settings."""
    if classes:
        settings["classes"] = [name.strip() for name in classes.split(",") if name.strip()]
    return settings


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
    force: bool = typer.Option(False, "--force", help="Replace existing --json/--skipped files."),
) -> None:
    """Read a dataset and print counts per class, session and speaker, durations, bio coverage and skips."""
    from vamer.data.readers import load
    from vamer.data.summary import render_summary, summarize
    from vamer.fileio import record_written, refuse_overwrite, write_json_atomic, write_text_atomic

    if json_out is not None and skipped_out is not None and json_out.resolve() == skipped_out.resolve():
        raise VamerError(f"--json and --skipped name the same file ({json_out}); the second would overwrite "
                         "the first: give two paths")
    for output in (json_out, skipped_out):
        if output is not None:
            refuse_overwrite(output, force)
    overrides = _data_overrides(classes, multi_label=multi_label, read_bio=bio)
    result = load(path, format=format.value, **overrides)
    summary = summarize(result)
    render_summary(summary, Console(width=max(100, Console().width)))
    if json_out is not None:
        write_json_atomic(json_out, summary)
        record_written(json_out)
        typer.echo(f"wrote {json_out}")
    if skipped_out is not None:
        write_text_atomic(skipped_out, result.skipped.to_csv(index=False))
        record_written(skipped_out)
        typer.echo(f"wrote {skipped_out} ({len(result.skipped)} skipped rows)")


@data_app.command("demo")
@user_errors
def data_demo(
    out: Path = typer.Argument(..., help="Folder to create (must not exist, unless --force on an earlier demo)."),
    sessions: int = typer.Option(20, "--sessions", min=1, max=99, help="Number of sessions (2 speakers each)."),
    segments: int = typer.Option(20, "--segments", min=2, max=999, help="Segments per session."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives identical files."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Parallel synthesis workers (default: all cores)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it is an earlier vamer demo corpus."),
) -> None:
    """Write a SYNTHETIC corpus in the exact KEMDy20 layout (espeak-ng Korean speech)."""
    from vamer.data.demo import generate_demo

    summary = generate_demo(out, sessions=sessions, segments_per_session=segments, seed=seed, jobs=jobs,
                            force=force)
    typer.echo(
        f"wrote synthetic KEMDy20-format demo corpus to {out}: {summary['segments']} segments, "
        f"{summary['sessions']} sessions, {summary['audio_hours']:.2f} h of audio"
    )


@app.command("analyze")
@user_errors
def analyze_command(
    path: Path = DATASET,
    out: Path = typer.Option(..., "--out", help="Report folder (report.md, analysis.json, figures)."),
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    seed: int = typer.Option(0, "--seed", help="Seed of the DTW subsample and k-means."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of every test."),
    session: Optional[str] = typer.Option(None, "--session", help="Session of the time plots (default: the first)."),
    signal: str = typer.Option("TEMP", "--dtw-signal", help="Bio-signal clustered with DTW k-means."),
    k_min: int = typer.Option(2, "--k-min", help="Smallest k of the DTW k-means sweep."),
    k_max: int = typer.Option(8, "--k-max", help="Largest k of the DTW k-means sweep."),
    max_series: int = typer.Option(1000, "--max-series", help="Seeded subsample size for DTW (silhouette is O(n^2))."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it is an earlier vamer analysis."),
) -> None:
    """Arousal/valence statistics and the bio-signal study of the method, as a report."""
    from vamer.analysis import analyze
    from vamer.analysis.config import AnalysisConfig
    from vamer.config import validated
    from vamer.data.readers import load
    from vamer.fileio import check_replaceable

    config = validated(AnalysisConfig, {"seed": seed, "alpha": alpha, "session": session, "dtw_signal": signal,
                                        "k_min": k_min, "k_max": k_max, "max_series": max_series})
    overrides = _data_overrides(classes)
    check_replaceable(out, force, "analyze")  # fail before a long load
    result = load(path, format=format.value, **overrides)
    numbers = analyze(result, out, config, force=force)
    for line in numbers["conclusions"]:
        typer.echo(f"- {line}")
    typer.echo(f"wrote {out / 'report.md'} and {out / 'analysis.json'}")


@app.command("features")
@user_errors
def features_command(
    path: Path = DATASET,
    cv: str = typer.Option("speaker:5", "--cv", help=SPLIT_HELP),
    augment: str = typer.Option("none", "--augment", help="Balancing policy: none | audio | text | both."),
    preset: str = PRESET,
    encoder: Optional[str] = typer.Option(None, "--text-encoder", help="Override the preset's text encoder: use | "
                                                                      "hf:<folder or hub id> | trainable"),
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    seed: int = typer.Option(0, "--seed", help="Seed of the augmentation (folds are every command's)."),
    cache: Optional[Path] = CACHE,
) -> None:
    """Compute (or refresh) the cached features of a preset (what `vamer run --preset` reads) and show
    each fold: sizes, leakage check, class counts before and after augmentation."""
    from vamer.config import validated
    from vamer.data.readers import load
    from vamer.experiment import fold_summaries
    from vamer.features.config import AugmentConfig
    from vamer.presets import load_preset

    augment_config = validated(AugmentConfig, {"policy": augment, "seed": seed})
    chosen = with_encoders(load_preset(preset), encoder, audio_encoder)
    overrides = _data_overrides(classes, read_bio=False)
    result = load(path, format=format.value, **overrides)
    store, lines = fold_summaries(result, chosen, cv, augment_config, cache)
    audio = store.stats["audio"]
    typer.echo(f"preset {chosen.name}: audio features: {audio['computed']} computed, {audio['cached']} from the "
               f"cache, {audio['skipped']} skipped, {audio['cropped_to_max_frames']} cropped, {audio['seconds']:.1f} s; "
               f"{store.stats['empty_text']} utterances with empty text"
               + (f"; {len(store.upstream)} with {chosen.audio_features.upstream} encoder states"
                  if chosen.audio_features.upstream else ""))
    for row in store.skipped.itertuples():
        typer.echo(f"  skipped {row.utt_id}: {row.reason} ({row.detail})")
    for line in lines:
        typer.echo(line)


@app.command("baseline")
@user_errors
@replayable("baseline")
def baseline_command(
    path: Optional[Path] = REPLAYED_DATASET,
    cv: str = typer.Option("speaker:5", "--cv", help=SPLIT_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="Write DIR/metrics.json (and predictions.csv)."),
    preset: str = PRESET,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    seed: int = typer.Option(0, "--seed", help="Seed of the classifier (folds are every command's)."),
    cache: Optional[Path] = CACHE,
    force: bool = typer.Option(False, "--force", help="Replace DIR if it is an earlier baseline."),
) -> None:
    """Classic baselines (MFCC/mel statistics, eGeMAPS, sentence vector -> logistic regression), a linear
    probe of the preset's pretrained audio encoder, and majority, on the folds and features `run` uses."""
    from vamer.data.readers import load
    from vamer.evaluation.report import run_baseline_report
    from vamer.fileio import check_replaceable

    if out is not None:
        check_replaceable(out, force, "baseline")
    chosen = chosen_preset(preset, None, audio_encoder)
    overrides = _data_overrides(classes, read_bio=False)
    result = load(path, format=format.value, **overrides)
    summary = run_baseline_report(result, cv, seed, cache, out, force, chosen, config=resolved_config())
    Console(width=max(100, Console().width)).print(summary)


class Stage(str, Enum):
    arousal = "arousal"
    valence = "valence"
    fusion = "fusion"


@app.command("train")
@user_errors
@replayable("train")
@hardware_options
def train_command(
    stage: Stage = typer.Argument(..., help="arousal (audio), valence (text) or fusion."),
    path: Optional[Path] = REPLAYED_DATASET,
    out: Path = typer.Option(..., "--out", help="Stage folder: checkpoints (best, last) and logs."),
    preset: str = PRESET,
    cv: str = typer.Option("session:5", "--cv", help="Split spelling; the stage trains on one fold."),
    fold: int = typer.Option(0, "--fold", min=0, help="Which fold of --cv to train on."),
    seed: int = typer.Option(0, "--seed", help="Training seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/STAGE/checkpoints/last.ckpt."),
    arousal: Optional[Path] = typer.Option(None, "--arousal", help="fusion: arousal checkpoint to start from."),
    valence: Optional[Path] = typer.Option(None, "--valence", help="fusion: valence checkpoint to start from."),
    augment: str = AUGMENT,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    hardware: dict = None,
    cache: Optional[Path] = CACHE,
) -> None:
    """Train one stage alone on one fold (resumable); fusion starts from the two pretrained encoders."""
    from vamer.config import validated
    from vamer.features.config import AugmentConfig
    from vamer.data.readers import load
    from vamer.experiment import stage_findings, train_stage
    from vamer.training.stages import is_global_zero

    chosen = chosen_preset(preset, None, audio_encoder)
    augment_config = validated(AugmentConfig, {"policy": augment})
    result = load(path, format=format.value, **_data_overrides(classes, read_bio=False))
    outcome = train_stage(result, stage.value, out, chosen, cv, fold, seed, resume, arousal, valence, augment_config,
                          cache, config=resolved_config(), **hardware)
    if is_global_zero():  # under DDP every process runs this command; one speaks
        for line in stage_findings(stage.value, outcome):
            typer.echo(line)


@app.command("run")
@user_errors
@replayable("run")
@hardware_options
def run_command(
    path: Optional[Path] = REPLAYED_DATASET,
    out: Path = typer.Option(..., "--out", help="Run folder: metrics.json, predictions.csv, report.md, bundle/."),
    preset: str = PRESET,
    cv: str = TRAINING_CV,
    seeds: int = SEEDS,
    augment: str = AUGMENT,
    class_weighted: Optional[bool] = typer.Option(None, "--class-weighted/--no-class-weighted",
                                                  help="Class-weighted cross-entropy (default: the preset's)."),
    balanced_sampler: Optional[bool] = typer.Option(None, "--balanced-sampler/--no-balanced-sampler",
                                                    help="Class-balanced training batches (default: the preset's)."),
    focal: Optional[float] = typer.Option(None, "--focal", help="Focal-loss gamma, 0 = cross-entropy "
                                                                  "(default: the preset's)."),
    ablations: bool = typer.Option(True, "--ablations/--no-ablations", help="Also train audio-only, text-only "
                                                                               "and no-pretraining variants."),
    variants: Optional[str] = typer.Option(None, "--variants", help="Which variants to train, comma-separated: "
                                           "fusion (always), audio_only, text_only, fusion_no_pretraining "
                                           "(default: all, or fusion alone with --no-ablations)."),
    text_encoder: Optional[str] = typer.Option(None, "--text-encoder", help="Override the preset's text encoder."),
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    cache: Optional[Path] = CACHE,
    force: bool = typer.Option(False, "--force", help="Replace OUT if it is an earlier vamer run."),
    resume: bool = typer.Option(False, "--resume", help="Continue the unfinished run of OUT (one that was killed "
                                "or failed) and fail if there is none; rerunning the same command continues it too."),
    hardware: dict = None,
) -> None:
    """End to end: features -> pretrain arousal and valence -> fusion -> evaluation -> report -> bundle."""
    from vamer.config import validated
    from vamer.features.config import AugmentConfig
    from vamer.data.readers import load
    from vamer.experiment import findings, run_experiment
    from vamer.fileio import check_replaceable
    from vamer.training.pipeline import Imbalance, parse_variants
    from vamer.training.stages import is_global_zero

    check_replaceable(out, force, "run")
    chosen_variants = parse_variants(variants)
    chosen = chosen_preset(preset, text_encoder, audio_encoder)
    augment_config = validated(AugmentConfig, {"policy": augment})
    result = load(path, format=format.value, **_data_overrides(classes, read_bio=False))
    imbalance = Imbalance.of(chosen, class_weighted, balanced_sampler, focal)
    metrics = run_experiment(result, out, chosen, cv, seeds, augment_config, imbalance, ablations, cache, force,
                             variants=chosen_variants, resume=resume, config=resolved_config(), **hardware)
    if is_global_zero():  # under DDP every process runs this command; one speaks
        for line in findings(metrics):
            typer.echo(line)
        typer.echo(f"report: {out / 'report.md'}; bundle: {out / 'bundle'}")


@app.command("findings")
@user_errors
def findings_command(
    run: Path = typer.Argument(..., help="A `vamer run` folder (it holds metrics.json)."),
) -> None:
    """Say in words what a finished run found: fusion against each modality, the baselines, the regressors."""
    from vamer.experiment import read_findings

    for line in read_findings(run):
        typer.echo(line)


@app.command("sweep")
@user_errors
@replayable("sweep")
@hardware_options
def sweep_command(
    path: Optional[Path] = REPLAYED_DATASET,
    out: Path = typer.Option(..., "--out", help="Sweep folder: sweep.md, sweep.json, confusion matrices, runs."),
    preset: str = PRESET,
    combos: str = typer.Option("6/6,7/6,7/5", "--layers", help="audio/text layer counts, comma-separated."),
    cv: str = TRAINING_CV,
    seeds: int = SEEDS,
    augment: str = AUGMENT,
    audio_encoder: Optional[str] = AUDIO_ENCODER,
    format: FormatChoice = FORMAT,
    classes: Optional[str] = CLASSES,
    cache: Optional[Path] = CACHE,
    force: bool = typer.Option(False, "--force", help="Replace OUT if it is an earlier sweep."),
    hardware: dict = None,
) -> None:
    """The slides' layer-count study: audio x text encoder depths, compared on the same folds."""
    from vamer.config import validated
    from vamer.features.config import AugmentConfig
    from vamer.data.readers import load
    from vamer.experiment import parse_layer_pairs, run_sweep, sweep_findings
    from vamer.training.stages import is_global_zero

    pairs = parse_layer_pairs(combos)
    result = load(path, format=format.value, **_data_overrides(classes, read_bio=False))
    summary = run_sweep(result, out, chosen_preset(preset, None, audio_encoder), pairs, cv, seeds,
                        validated(AugmentConfig, {"policy": augment}), cache=cache, force=force,
                        config=resolved_config(), **hardware)
    if is_global_zero():
        for line in sweep_findings(summary):
            typer.echo(line)
        typer.echo(f"wrote {out / 'sweep.md'}")


class Engine(str, Enum):
    torch = "torch"
    onnx = "onnx"


BUNDLE = typer.Option(..., "--bundle", help="Bundle folder written by `vamer run` (DIR/bundle).")
ENGINE = typer.Option(Engine.torch, "--engine", help="torch, or onnx (the file from `vamer export`).")
ONNX_FILE = typer.Option(None, "--onnx", help="ONNX model for --engine onnx (default BUNDLE/model.onnx).")
MAX_SECONDS = typer.Option(60.0, "--max-seconds", min=0.1, help="Refuse recordings longer than this.")
DEVICE = typer.Option("cpu", "--device", help="Where the torch engine runs: cpu, cuda, cuda:1 or mps.")


@app.command("predict")
@user_errors
def predict_command(
    inputs: list[Path] = typer.Argument(None, help="Audio files and folders (searched recursively)."),
    bundle: Path = BUNDLE,
    text: Optional[str] = typer.Option(None, "--text", help="Transcript of the single input (else the .txt "
                                                            "beside the wav, else audio only)."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="CSV/Parquet with columns audio "
                                                                     "[, text, utt_id]."),
    out: Optional[Path] = typer.Option(None, "--out", help="results.csv or results.jsonl (default: print)."),
    engine: Engine = ENGINE,
    onnx: Optional[Path] = ONNX_FILE,
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    max_seconds: float = MAX_SECONDS,
    device: str = DEVICE,
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
) -> None:
    """Predict the emotion of recordings; a file that fails is reported in the output and the rest go on."""
    from rich.table import Table

    from vamer.inference.batch import ResultWriter, check_output, columns_of, gather, result_rows
    from vamer.inference.predictor import Limits, Predictor

    if out is not None:
        check_output(out, force)  # before any input is read or the model loads
    requests = gather(list(inputs or []), manifest, text)
    predictor = Predictor.from_bundle(bundle, engine.value, onnx, Limits(max_seconds=max_seconds), device=device)
    writer = ResultWriter(out, columns_of(predictor), force) if out is not None else None
    shown, failed, total = [], 0, 0
    with progress_reporter("predicting", len(requests), quiet=len(requests) <= batch_size) as advance:
        try:
            for row in result_rows(predictor, requests, batch_size, advance):
                total += 1
                failed += bool(row["error"])
                if writer is not None:
                    writer.write(row)
                else:
                    shown.append(row)
        except BaseException:
            if writer is not None:
                writer.abandon()
                if writer.rows:
                    typer.echo(f"stopped: the {writer.rows} rows predicted so far are in {writer.partial}", err=True)
            raise
    if writer is not None:
        writer.finish()
        typer.echo(f"wrote {total} rows to {out} ({total - failed} predicted, {failed} failed)")
    else:
        table = Table("input", "label", "p", "arousal", "valence", "notes / error")
        for row in shown:
            name = Path(row["input"]).name or row["input"]  # the file name; --out keeps whole paths
            if row["error"]:
                table.add_row(name, "-", "-", "-", "-", f"[red]{row['error']}[/red]")
                continue
            rating = lambda v: "-" if v is None or v != v else f"{v:.2f}"  # noqa: E731 - NaN-safe
            table.add_row(name, row["label"], f"{row['p_' + row['label']]:.2f}", rating(row["arousal"]),
                          rating(row["valence"]), row["notes"])
        Console().print(table)
    if failed:
        typer.echo(f"{failed} of {total} inputs could not be predicted (see the error column)", err=True)


@contextlib.contextmanager
def progress_reporter(what: str, total: int, quiet: bool = False, every_s: float = 10.0):
    """Yield ``advance(n)``: a progress bar on a terminal, and when stderr is a file or a pipe (a
    batch job's log) a plain line every ``every_s`` seconds and at the end: done, total, rate."""
    import time

    from rich.progress import Progress

    console = Console(stderr=True)
    if quiet:
        yield lambda n: None
        return
    if console.is_terminal:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(what, total=total)
            yield lambda n: bar.advance(task, n)
        return
    started = time.monotonic()
    last = started - every_s   # the first batch is reported at once: the job is alive
    done = 0

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= every_s or done == total:
            last = now
            print(f"{what}: {done:,} of {total:,} ({done / max(now - started, 1e-9):.1f}/s)", file=sys.stderr,
                  flush=True)

    yield advance


@app.command("export")
@user_errors
def export_command(
    bundle: Path = BUNDLE,
    onnx: Path = typer.Option(..., "--onnx", help="Output .onnx file."),
    int8: bool = typer.Option(False, "--int8", help="Dynamic int8 quantisation (onnxruntime)."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
) -> None:
    """Export the bundle's models as one ONNX graph (probabilities, arousal, valence) and check parity."""
    from vamer.inference.bundle import read_bundle
    from vamer.inference.export import export_onnx

    written = export_onnx(read_bundle(bundle), onnx, int8=int8, force=force)
    typer.echo(f"wrote {written['path']} ({written['precision']}, {written['bytes'] / 1e6:.2f} MB); max |p_torch - "
               f"p_onnx| = {written['max_abs_diff_probabilities']:.2e} on test inputs")


@app.command("serve")
@user_errors
def serve_command(
    bundle: Path = BUNDLE,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    engine: Engine = ENGINE,
    onnx: Optional[Path] = ONNX_FILE,
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.001, help="Larger uploads get 413."),
    max_seconds: float = MAX_SECONDS,
    max_text_chars: int = typer.Option(2000, "--max-text-chars", min=1),
    concurrency: int = typer.Option(2, "--concurrency", min=1, help="Predictions running at once (each on "
                                                                     "cores / concurrency threads)."),
    max_uploads: int = typer.Option(16, "--max-uploads", min=1,
                                    help="Uploads received or predicted at once; more get 503."),
    body_timeout: float = typer.Option(30.0, "--body-timeout", min=0.1, help="Seconds for a whole body; else 408."),
    header_timeout: float = typer.Option(10.0, "--header-timeout", min=0.1,
                                         help="Seconds for a request's head; else the connection closes."),
    max_connections: int = typer.Option(256, "--max-connections", min=1, help="Open connections; more get 503."),
    queue_timeout: float = typer.Option(30.0, "--queue-timeout", min=0.0,
                                        help="Seconds a request waits for an upload slot; then 503."),
    min_body_rate: float = typer.Option(8.0, "--min-body-rate-kb", min=0.001,
                                        help="KB/s a body must average after 2 s; slower clients get 408."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="File holding the API key POST "
                                                "/predict then needs (or set VAMER_API_KEY)."),
    allowed_host: Optional[list[str]] = typer.Option(None, "--allowed-host", help="A Host header value to answer "
                                                     "(repeat it; default: the loopback names when --host is "
                                                     "loopback, any otherwise)."),
    device: str = DEVICE,
) -> None:
    """REST service + web page: POST /predict, GET /health, GET / (page), GET /docs (OpenAPI)."""
    import uvicorn

    from vamer.inference.predictor import Limits, Predictor
    from vamer.serving.app import LOOPBACK_HOSTS, ServiceLimits, create_app
    from vamer.serving.server import check_port_free, read_api_key, server_config

    api_key = read_api_key(api_key_file)
    hosts = list(allowed_host) if allowed_host else (list(LOOPBACK_HOSTS) if host in LOOPBACK_HOSTS else None)
    check_port_free(host, port)  # before the model loads, not after
    # N predictions at once, each on cores / N threads: more threads than cores makes them spin.
    threads = max(1, (os.cpu_count() or 1) // concurrency)
    predictor = Predictor.from_bundle(bundle, engine.value, onnx,
                                      Limits(max_seconds=max_seconds, max_text_chars=max_text_chars), threads,
                                      device)
    limits = ServiceLimits(max_upload_bytes=int(max_upload_mb * 1024 * 1024), concurrency=concurrency,
                           max_uploads=max_uploads, queue_timeout_s=queue_timeout, body_timeout_s=body_timeout,
                           header_timeout_s=header_timeout, max_connections=max_connections,
                           min_body_rate_bps=int(min_body_rate * 1024))
    service = create_app(predictor, limits, api_key, hosts)
    typer.echo(f"serving {bundle} on http://{host}:{port}/ (docs at /docs)")
    if host not in LOOPBACK_HOSTS and api_key is None:
        typer.echo(f"note: --host {host} answers other machines and POST /predict needs no key; give one with "
                   "--api-key-file or VAMER_API_KEY, or serve behind a reverse proxy that checks access "
                   "(README: Deploying behind a reverse proxy)", err=True)
    uvicorn.Server(server_config(service, host, port, limits)).run()


def _stop(signum: int, frame) -> None:
    raise JobStopped(signum)


def _unraisable(hook):
    """``sys.unraisablehook`` that keeps a swallowed stop.  A signal handler that runs inside a C
    library's callback into Python (openSMILE's, through ctypes) has its exception swallowed there
    ("Exception ignored on calling ctypes callback"): a SIGTERM then let the job go on for a minute.
    The stop is raised again when the library returns (:func:`vamer.errors.raise_swallowed_stop`)."""
    from vamer.errors import note_swallowed_stop

    def handle(unraisable) -> None:
        if isinstance(unraisable.exc_value, JobStopped):
            note_swallowed_stop(unraisable.exc_value.signum)
            return
        hook(unraisable)

    return handle


def main() -> None:
    # SIGTERM (schedulers, containers, systemd) and SIGINT stop a job with 128 + the signal and one
    # line that says so.  Lightning keeps these handlers: during fit it adds its own in front and
    # calls ours after it.  Without them SIGTERM ended a training with exit status 0, and SIGINT
    # inside fit with 1.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

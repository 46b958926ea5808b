"""What the commands of :mod:`vamer.cli` share: each option declared once, and the decorators that
give a command its error handling (:func:`user_errors`), its trainer options
(:func:`trainer_options`) and ``--config`` replay (:func:`replayable`)."""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import typing
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vamer.errors import JobStopped, VamerError


class FormatChoice(str, Enum):
    auto = "auto"
    kemdy20 = "kemdy20"
    kemdy19 = "kemdy19"
    manifest = "manifest"


class Engine(str, Enum):
    torch = "torch"
    onnx = "onnx"


class Stage(str, Enum):
    arousal = "arousal"
    valence = "valence"
    fusion = "fusion"


# Datasets and their reading.
DATASET = typer.Argument(..., help="KEMDy20/KEMDy19 folder or a .csv/.parquet manifest.")
REPLAYED_DATASET = typer.Argument(
    None,
    help="KEMDy20/KEMDy19 folder or a .csv/.parquet manifest (default with --config: the one it names).",
    show_default=False,
)
FORMAT = typer.Option(FormatChoice.auto, "--format", help="Dataset format (auto: from what PATH holds).")
CLASSES = typer.Option(
    None,
    "--classes",
    help="Comma-separated class set (default: KEMDy's neutral,happy,surprise,"
    "angry,sad; for a manifest, every label it holds).",
)


def _writable_cache(value: Optional[Path]) -> Optional[Path]:
    """``--cache``: a folder vamer can create and write in, checked before any work (``/proc/self``
    took a run through its baselines before an internal error)."""
    if value is None:
        return None
    from vamer.fileio import writable_folder_problem

    problem = writable_folder_problem(value)
    if problem:
        raise typer.BadParameter(problem)
    return value


CACHE = typer.Option(
    None,
    "--cache",
    callback=_writable_cache,
    help="Cache folder: features, and speech recognitions under asr/ (default $VAMER_CACHE or ~/.cache/vamer).",
)
# Outputs.
OUT = typer.Option(
    ...,
    "--out",
    help="Output (a folder; `data transcribe`: a manifest .csv), written whole or not "
    "at all (the command's help says what it holds).",
)
RESULTS = typer.Option(
    None,
    "--out",
    help="Also write the results: baseline, a folder (metrics.json, "
    "summary.md, config.yaml); predict, a results.csv or .jsonl file.",
)
FORCE = typer.Option(
    False,
    "--force",
    help="Replace the output when it exists (a folder only when an earlier vamer command of the same kind wrote it).",
)
RESUME = typer.Option(
    False,
    "--resume",
    help="Continue the unfinished job in OUT (one that was killed or failed) and fail if there is none.",
)
SEED = typer.Option(0, "--seed", help="Random seed: the same seed gives the same result (folds never depend on it).")
# Models and training.
PRESET = typer.Option(
    "cpu-ge2e",
    "--preset",
    help="cpu-ge2e (default: cpu + the pretrained GE2E voice encoder) | "
    "cpu (fast, no pretrained encoder) | cpu-egemaps | paper | "
    "tiny | a YAML file.",
)
TEXT_ENCODER = typer.Option(
    None, "--text-encoder", help="Override the preset's text encoder: use | hf:<folder or hub id> | trainable."
)
AUDIO_ENCODER = typer.Option(
    None,
    "--audio-encoder",
    help="Override the preset's frozen audio encoder: ge2e (the "
    "voice encoder in the resemblyzer wheel, offline), "
    "whisper-base (Whisper's encoder, offline, about 0.6 s a "
    "clip) or hf:<folder or hub id> (wav2vec2 / HuBERT / "
    "WavLM, layer-weighted as in SUPERB).",
)
AUGMENT = typer.Option("both", "--augment", help="Balancing policy of the training split: none | audio | text | both.")
CV = typer.Option(
    "session:5",
    "--cv",
    help="session:K | speaker:K | sessions:S1,S2 | random:0.2 (every command "
    "makes the same folds from the same spelling).",
)
SEEDS = typer.Option(1, "--seeds", min=1, help="Training seeds per fold.")
# Prediction.
BUNDLE = typer.Option(..., "--bundle", help="Bundle folder written by `vamer run` (DIR/bundle).")
ENGINE = typer.Option(Engine.torch, "--engine", help="torch, or onnx (the file from `vamer export`).")
ONNX_FILE = typer.Option(None, "--onnx", help="ONNX model for --engine onnx (default BUNDLE/model.onnx).")
MAX_SECONDS = typer.Option(60.0, "--max-seconds", min=0.1, help="Refuse recordings longer than this.")
DEVICE = typer.Option("cpu", "--device", help="Where the torch engine runs: cpu, cuda, cuda:1 or mps.")
ASR = typer.Option(
    "whisper-base",
    "--asr",
    help="Speech recognition for audio without text: whisper-base (offline, Whisper base from two "
    "PyPI wheels), or none.  Given text always wins.",
)
ASR_LANGUAGE = typer.Option("ko", "--asr-language", help="The language speech recognition listens for (ko, en, de, …).")

# The trainer options of every training command: name -> (annotation, option).
TRAINER_OPTIONS = {
    "accelerator": (
        "str",
        typer.Option("auto", "--accelerator", help="auto (a GPU when there is one) | cpu | gpu | mps."),
    ),
    "devices": (
        "str",
        typer.Option("1", "--devices", help="Devices (processes) per node: a count, auto, or GPU ids 0,1."),
    ),
    "strategy": (
        "str",
        typer.Option("auto", "--strategy", help="Lightning strategy: auto | ddp | ddp_spawn | fsdp | ..."),
    ),
    "num_nodes": (
        "int",
        typer.Option(1, "--num-nodes", min=1, help="Nodes for multi-node DDP (launch one process per GPU)."),
    ),
    "precision": (
        "Optional[str]",
        typer.Option(None, "--precision", help="Lightning precision, e.g. bf16-mixed, 16-mixed (default 32)."),
    ),
    "workers": (
        "Optional[int]",
        typer.Option(None, "--workers", min=0, help="Data-loader processes (default: 0 on CPU, 4 beside a GPU)."),
    ),
}


def _with_parameters(wrapper, command, drop: str, added: list[inspect.Parameter], annotations: dict):
    """``wrapper`` with ``command``'s signature, less ``drop``, plus ``added``: what Typer reads."""
    signature = inspect.signature(command)
    wrapper.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != drop] + added
    )
    wrapper.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != drop}, **annotations}
    return wrapper


def _grouped(options: dict, receiver: str, build):
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

        return _with_parameters(
            wrapper, command, receiver, added, {name: annotation for name, (annotation, _) in options.items()}
        )

    return decorate


def _trainer(**values):
    from vamer.training.devices import TrainerOptions

    return TrainerOptions.parse(**values)


# A training command receives its trainer options as one ``trainer`` (TrainerOptions).
trainer_options = _grouped(TRAINER_OPTIONS, "trainer", _trainer)

IMBALANCE_OPTIONS = {
    "class_weighted": (
        "Optional[bool]",
        typer.Option(
            None, "--class-weighted/--no-class-weighted", help="Class-weighted cross-entropy (default: the preset's)."
        ),
    ),
    "balanced_sampler": (
        "Optional[bool]",
        typer.Option(
            None,
            "--balanced-sampler/--no-balanced-sampler",
            help="Class-balanced training batches (default: the preset's).",
        ),
    ),
    "focal_gamma": (
        "Optional[float]",
        typer.Option(None, "--focal", help="Focal-loss gamma, 0 = cross-entropy (default: the preset's)."),
    ),
}
# ``vamer run`` receives them as one ``imbalance``: the options given, for Imbalance.of(preset, ...).
imbalance_options = _grouped(IMBALANCE_OPTIONS, "imbalance", dict)

TIMELINE_OPTIONS = {
    "timeline": (
        "bool",
        typer.Option(
            False,
            "--timeline",
            help="One long recording -> its timeline: speech "
            "segments (silero-vad) each predicted, silences "
            "marked; --out takes .csv/.jsonl rows, a .json "
            "document or .srt/.vtt subtitles.",
        ),
    ),
    "transcript": (
        "Optional[Path]",
        typer.Option(
            None,
            "--transcript",
            help="--timeline: a time-aligned transcript "
            "(.srt or .vtt, UTF-8) whose words go "
            "to the segments they fall in.",
        ),
    ),
    "figure": (
        "Optional[Path]",
        typer.Option(
            None, "--figure", help="--timeline: also draw it (waveform, arousal, emotions, probabilities) to this .png."
        ),
    ),
    "max_minutes": (
        "float",
        typer.Option(240.0, "--max-minutes", min=0.1, help="--timeline: refuse recordings longer than this."),
    ),
    "speakers": (
        "Optional[int]",
        typer.Option(
            None,
            "--speakers",
            min=1,
            max=20,
            help="--timeline: how many speakers the recording holds (default: estimated from the voices).",
        ),
    ),
}


def _timeline(timeline: bool, transcript: Path | None, figure: Path | None, max_minutes: float, speakers: int | None):
    from vamer.timeline.command import TimelineRequest

    if not timeline and (transcript or figure or speakers):
        raise VamerError(
            "--transcript, --figure and --speakers go with --timeline (one long recording -> its timeline)"
        )
    return TimelineRequest(timeline, transcript, figure, max_minutes * 60, speakers)


# ``vamer predict`` receives them as one ``timeline`` (TimelineRequest).
timeline_options = _grouped(TIMELINE_OPTIONS, "timeline", _timeline)

PROFILES = typer.Option(
    None,
    "--profiles",
    help="Speaker profiles file (SQLite; default ~/.local/share/vamer/speakers.sqlite, or $VAMER_PROFILES).",
)
SPEAKER_OPTIONS = {
    "speaker": (
        "Optional[str]",
        typer.Option(
            None,
            "--speaker",
            help="Every input is this speaker's: they are "
            "normalised together (speaker context; a "
            "manifest's speaker column does it per row).",
        ),
    ),
    "profile": (
        "Optional[str]",
        typer.Option(
            None, "--profile", help="Normalise every input with this enrolled speaker profile (`vamer speakers enrol`)."
        ),
    ),
    "profiles": ("Optional[Path]", PROFILES),
}


def _speaker_choice(speaker: str | None, profile: str | None, profiles: Path | None):
    from vamer.inference.batch import SpeakerChoice

    if speaker and profile:
        raise VamerError("--speaker groups the inputs into one speaker, --profile uses a saved one: give one of them")
    return SpeakerChoice(speaker, profile, profiles)


# ``vamer predict`` receives them as one ``speakers`` (SpeakerChoice).
speaker_options = _grouped(SPEAKER_OPTIONS, "speakers", _speaker_choice)

ANALYSIS_OPTIONS = {
    "seed": ("int", SEED),
    "alpha": ("float", typer.Option(0.05, "--alpha", help="Significance level of every test.")),
    "session": (
        "Optional[str]",
        typer.Option(None, "--session", help="Session of the time plots (default: the first)."),
    ),
    "dtw_signal": ("str", typer.Option("TEMP", "--dtw-signal", help="Bio-signal clustered with DTW k-means.")),
    "k_min": ("int", typer.Option(2, "--k-min", help="Smallest k of the DTW k-means sweep.")),
    "k_max": ("int", typer.Option(8, "--k-max", help="Largest k of the DTW k-means sweep.")),
    "max_series": (
        "int",
        typer.Option(1000, "--max-series", help="Seeded subsample size for DTW (silhouette is O(n^2))."),
    ),
}


def _analysis(**values):
    from vamer.analysis.config import AnalysisConfig
    from vamer.config import validated

    return validated(AnalysisConfig, values)


# ``vamer analyze`` receives its settings as one ``config`` (AnalysisConfig).
analysis_options = _grouped(ANALYSIS_OPTIONS, "config", _analysis)

# name, type, default, flag, smallest value, help
SERVICE_OPTIONS = {
    name: (kind, typer.Option(default, flag, min=low, help=text))
    for name, kind, default, flag, low, text in (
        ("max_upload_mb", "float", 20.0, "--max-upload-mb", 0.001, "Larger uploads get 413."),
        (
            "concurrency",
            "int",
            2,
            "--concurrency",
            1,
            "Predictions running at once (each on cores / concurrency threads).",
        ),
        (
            "max_uploads",
            "int",
            16,
            "--max-uploads",
            1,
            "Uploads arriving at once at the base rate floor; past it the floor rises in proportion.",
        ),
        (
            "max_buffered_mb",
            "int",
            512,
            "--max-buffered-mb",
            1,
            "MB of uploads held in memory, all requests together; past it a request waits, then 503.",
        ),
        ("body_timeout", "float", 30.0, "--body-timeout", 0.1, "Seconds for a whole body; else 408."),
        (
            "header_timeout",
            "float",
            10.0,
            "--header-timeout",
            0.1,
            "Seconds for a request's head; else the connection closes.",
        ),
        ("max_connections", "int", 256, "--max-connections", 1, "Open connections; more get 503."),
        (
            "queue_timeout",
            "float",
            30.0,
            "--queue-timeout",
            0.0,
            "Seconds a request waits for room or for the timeline builder; then 503.",
        ),
        (
            "min_body_rate",
            "float",
            8.0,
            "--min-body-rate-kb",
            0.001,
            "KB/s a body must average after 2 s; slower clients get 408.",
        ),
        ("max_timeline_mb", "float", 256.0, "--max-timeline-mb", 0.001, "Larger POST /timeline uploads get 413."),
        ("max_timeline_minutes", "float", 60.0, "--max-timeline-minutes", 0.1, "Longer timeline recordings get 422."),
    )
}


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
service_options = _grouped(SERVICE_OPTIONS, "limits", _limits)


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


def augmentation(policy: str, seed: int = 0):
    """The AugmentConfig of ``--augment`` (validated, so a bad policy gets one line)."""
    from vamer.config import validated
    from vamer.features.config import AugmentConfig

    return validated(AugmentConfig, {"policy": policy, "seed": seed})


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


def replayable(name: str):
    """Give a command ``--config FILE`` (replay a ``config.yaml``: its values stand where the command
    line says nothing) and record what it ran with, for :func:`resolved_config`."""

    def decorate(command):
        hints = typing.get_type_hints(command)
        added = [
            inspect.Parameter(
                "config",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Optional[Path],
                default=typer.Option(
                    None,
                    "--config",
                    help="Replay a config.yaml an earlier command wrote; options given here override it.",
                ),
            ),
            inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
        ]

        @functools.wraps(command)
        def wrapper(*args, ctx: typer.Context, config: Optional[Path] = None, **kwargs):
            from vamer.replay import NOT_REPLAYED, as_recorded, read_config

            record = read_config(config, name) if config is not None else None
            # By name: typer carries its own copy of click, whose ParameterSource is another enum.
            given = {key for key in kwargs if getattr(ctx.get_parameter_source(key), "name", "") == "COMMANDLINE"}
            if record is not None:
                replayed = _checked_options(record.options, ctx, config, given)
                kwargs.update({key: _restored(value, hints.get(key)) for key, value in replayed.items()})
            if kwargs.get("path", "") is None:
                raise VamerError(
                    f"give the dataset PATH, or --config with the config.yaml of an earlier `vamer {name}`"
                )
            state = {
                "command": name,
                "given": given,
                "record": record,
                "preset": None,
                "options": {key: as_recorded(value) for key, value in kwargs.items() if key not in NOT_REPLAYED},
            }
            token = _REPLAY.set(state)
            try:
                return command(*args, **kwargs)
            finally:
                _REPLAY.reset(token)

        return _with_parameters(wrapper, command, "", added, {"config": Optional[Path], "ctx": typer.Context})

    return decorate


def chosen_preset(preset: str, text_encoder: str | None = None, audio_encoder: str | None = None):
    """The preset a command runs with: the replayed ``config.yaml``'s (already resolved) unless the
    command line names a preset or an encoder, else ``preset`` with the encoders named."""
    from vamer.presets import load_preset, with_encoders

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

"""The options of the ``vamer`` commands, each declared once: the common ones (``DATASET``,
``OUT``, ``FORCE``, ...), and the option groups a command receives as one typed object
(:mod:`vamer.cli.groups`): the run configuration's (:data:`RUN_OPTIONS`), the trainer's, the
imbalance options, the timeline's, the speaker choice, the analysis settings and the service limits.
Each group maps a parameter name to (type, Typer option)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer


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
        str,
        typer.Option("auto", "--accelerator", help="auto (a GPU when there is one) | cpu | gpu | mps."),
    ),
    "devices": (
        str,
        typer.Option("1", "--devices", help="Devices (processes) per node: a count, auto, or GPU ids 0,1."),
    ),
    "strategy": (
        str,
        typer.Option("auto", "--strategy", help="Lightning strategy: auto | ddp | ddp_spawn | fsdp | ..."),
    ),
    "num_nodes": (
        int,
        typer.Option(1, "--num-nodes", min=1, help="Nodes for multi-node DDP (launch one process per GPU)."),
    ),
    "precision": (
        Optional[str],
        typer.Option(None, "--precision", help="Lightning precision, e.g. bf16-mixed, 16-mixed (default 32)."),
    ),
    "workers": (
        Optional[int],
        typer.Option(None, "--workers", min=0, help="Data-loader processes (default: 0 on CPU, 4 beside a GPU)."),
    ),
}


IMBALANCE_OPTIONS = {
    "class_weighted": (
        Optional[bool],
        typer.Option(
            None, "--class-weighted/--no-class-weighted", help="Class-weighted cross-entropy (default: the preset's)."
        ),
    ),
    "balanced_sampler": (
        Optional[bool],
        typer.Option(
            None,
            "--balanced-sampler/--no-balanced-sampler",
            help="Class-balanced training batches (default: the preset's).",
        ),
    ),
    "focal_gamma": (
        Optional[float],
        typer.Option(None, "--focal", help="Focal-loss gamma, 0 = cross-entropy (default: the preset's)."),
    ),
}

TIMELINE_OPTIONS = {
    "timeline": (
        bool,
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
        Optional[Path],
        typer.Option(
            None,
            "--transcript",
            help="--timeline: a time-aligned transcript "
            "(.srt or .vtt, UTF-8) whose words go "
            "to the segments they fall in.",
        ),
    ),
    "figure": (
        Optional[Path],
        typer.Option(
            None, "--figure", help="--timeline: also draw it (waveform, arousal, emotions, probabilities) to this .png."
        ),
    ),
    "max_minutes": (
        float,
        typer.Option(240.0, "--max-minutes", min=0.1, help="--timeline: refuse recordings longer than this."),
    ),
    "speakers": (
        Optional[int],
        typer.Option(
            None,
            "--speakers",
            min=1,
            max=20,
            help="--timeline: how many speakers the recording holds (default: estimated from the voices).",
        ),
    ),
}


PROFILES = typer.Option(
    None,
    "--profiles",
    help="Speaker profiles file (SQLite; default ~/.local/share/vamer/speakers.sqlite, or $VAMER_PROFILES).",
)
SPEAKER_OPTIONS = {
    "speaker": (
        Optional[str],
        typer.Option(
            None,
            "--speaker",
            help="Every input is this speaker's: they are "
            "normalised together (speaker context; a "
            "manifest's speaker column does it per row).",
        ),
    ),
    "profile": (
        Optional[str],
        typer.Option(
            None, "--profile", help="Normalise every input with this enrolled speaker profile (`vamer speakers enrol`)."
        ),
    ),
    "profiles": (Optional[Path], PROFILES),
}


ANALYSIS_OPTIONS = {
    "seed": (int, SEED),
    "alpha": (float, typer.Option(0.05, "--alpha", help="Significance level of every test.")),
    "session": (
        Optional[str],
        typer.Option(None, "--session", help="Session of the time plots (default: the first)."),
    ),
    "dtw_signal": (str, typer.Option("TEMP", "--dtw-signal", help="Bio-signal clustered with DTW k-means.")),
    "k_min": (int, typer.Option(2, "--k-min", help="Smallest k of the DTW k-means sweep.")),
    "k_max": (int, typer.Option(8, "--k-max", help="Largest k of the DTW k-means sweep.")),
    "max_series": (
        int,
        typer.Option(1000, "--max-series", help="Seeded subsample size for DTW (silhouette is O(n^2))."),
    ),
}


# name, type, default, flag, smallest value, help
SERVICE_OPTIONS = {
    name: (kind, typer.Option(default, flag, min=low, help=text))
    for name, kind, default, flag, low, text in (
        ("max_upload_mb", float, 20.0, "--max-upload-mb", 0.001, "Larger uploads get 413."),
        (
            "concurrency",
            int,
            2,
            "--concurrency",
            1,
            "Predictions running at once (each on cores / concurrency threads).",
        ),
        (
            "max_uploads",
            int,
            16,
            "--max-uploads",
            1,
            "Uploads arriving at once at the base rate floor; past it the floor rises in proportion.",
        ),
        (
            "max_buffered_mb",
            int,
            512,
            "--max-buffered-mb",
            1,
            "MB of uploads held in memory, all requests together; past it a request waits, then 503.",
        ),
        ("body_timeout", float, 30.0, "--body-timeout", 0.1, "Seconds for a whole body; else 408."),
        (
            "header_timeout",
            float,
            10.0,
            "--header-timeout",
            0.1,
            "Seconds for a request's head; else the connection closes.",
        ),
        ("max_connections", int, 256, "--max-connections", 1, "Open connections; more get 503."),
        (
            "queue_timeout",
            float,
            30.0,
            "--queue-timeout",
            0.0,
            "Seconds a request waits for room or for the timeline builder; then 503.",
        ),
        (
            "min_body_rate",
            float,
            8.0,
            "--min-body-rate-kb",
            0.001,
            "KB/s a body must average after 2 s; slower clients get 408.",
        ),
        ("max_timeline_mb", float, 256.0, "--max-timeline-mb", 0.001, "Larger POST /timeline uploads get 413."),
        ("max_timeline_minutes", float, 60.0, "--max-timeline-minutes", 0.1, "Longer timeline recordings get 422."),
    )
}


ABLATIONS = typer.Option(
    True, "--ablations/--no-ablations", help="Also train audio-only, text-only and no-pretraining variants."
)
VARIANTS = typer.Option(
    None,
    "--variants",
    help="Which variants to train, comma-separated: fusion (always), audio_only, text_only, fusion_no_pretraining "
    "(default: all, or fusion alone with --no-ablations).",
)
# What a run configuration (vamer.commands.config.RunConfig) is built from; each training command
# takes the ones it reads.
RUN_OPTIONS = {
    "path": (Optional[Path], REPLAYED_DATASET),
    "preset": (str, PRESET),
    "cv": (str, CV),
    "seeds": (int, SEEDS),
    "seed": (int, SEED),
    "augment": (str, AUGMENT),
    "ablations": (bool, ABLATIONS),
    "variants": (Optional[str], VARIANTS),
    "text_encoder": (Optional[str], TEXT_ENCODER),
    "audio_encoder": (Optional[str], AUDIO_ENCODER),
    "format": (FormatChoice, FORMAT),
    "classes": (Optional[str], CLASSES),
    "cache": (Optional[Path], CACHE),
}

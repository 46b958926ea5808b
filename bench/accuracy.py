"""Benchmark: does the model hear emotion?  The default ``vamer run`` on EmoDB (real acted speech).

    .venv/bin/python bench/accuracy.py [--corpus ../shared/data/emodb/manifest.csv] [--sets 6,7]
                                       [--preset cpu-ge2e] [--audio-encoder whisper-base] [--seeds 1]
                                       [--no-ablations | --variants fusion,audio_only]
                                       [--out build/accuracy]

EmoDB's text is the same 10 sentences in every emotion, so this measures the audio side.  Class
sets: ``6`` = the six KEMDy classes EmoDB has (angry, happy, neutral, fear, sad, disgust), ``7`` =
all seven labels, boredom included (the manifest's own default).  Protocol: speaker 5-fold
(speaker-independent), each fold's validation speakers carved from its training speakers.  Prints
the model, each ablation, every classic baseline and always-majority side by side (UA, macro F1,
weighted F1, accuracy; mean ± std over folds x seeds); the README's results come from here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from vamer.commands.config import DatasetChoice, RunConfig
from vamer.commands.run import run
from vamer.data import load
from vamer.evaluation.run_report import baseline_name
from vamer.features.config import AugmentConfig
from vamer.metrics import mean_std
from vamer.presets import DEFAULT_PRESET, load_preset, with_encoders
from vamer.recipe import VARIANTS, parse_variants

SIX = ["angry", "happy", "neutral", "fear", "sad", "disgust"]
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "manifest.csv"


def table(metrics: dict) -> pd.DataFrame:
    rows = []
    for variant, numbers in metrics["ablations"].items():
        rows.append(
            {
                "model": metrics["variant_names"][variant],
                **{k: mean_std(numbers[k]) for k in ("ua", "macro_f1", "weighted_f1", "accuracy")},
            }
        )
    for name, numbers in metrics["baseline"].items():
        rows.append(
            {
                "model": baseline_name(name, metrics["protocol"].get("audio_encoder")),
                **{k: mean_std(numbers[k]) for k in ("ua", "macro_f1", "weighted_f1", "accuracy")},
            }
        )
    rows.append(
        {
            "model": "always majority",
            **{k: mean_std(metrics["majority"][k]) for k in ("ua", "macro_f1", "weighted_f1", "accuracy")},
        }
    )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--sets", default="6,7", help="class sets to run: 6 and/or 7")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--audio-encoder", default=None, help="override the preset's frozen audio encoder")
    parser.add_argument("--cv", default="speaker:5")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--no-ablations", dest="ablations", action="store_false")
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated subset, e.g. fusion,audio_only (default: all, or fusion alone with --no-ablations)",
    )
    parser.add_argument("--out", type=Path, default=Path("build/accuracy"))
    parser.add_argument("--cache", type=Path, default=Path("build/cache"))
    args = parser.parse_args()
    preset = with_encoders(load_preset(args.preset), audio_encoder=args.audio_encoder)
    for size in [s.strip() for s in args.sets.split(",") if s.strip()]:
        classes = SIX if size == "6" else None
        result = load(args.corpus, classes=classes)
        started = time.perf_counter()
        variants = parse_variants(args.variants) or (VARIANTS if args.ablations else ("fusion",))
        config = RunConfig(
            command="run",
            dataset=DatasetChoice(path=args.corpus, classes=classes),
            preset=preset,
            cv=args.cv,
            seeds=args.seeds,
            augment=AugmentConfig(),  # no augmentation: the protocol of the README's EmoDB results
            variants=variants,
            cache=args.cache,
            progress=False,
        )
        metrics = run(config, args.out / f"emodb-{size}", force=True, result=result).as_written()
        seconds = time.perf_counter() - started
        print(
            f"\nEmoDB, {len(result.classes)} classes ({', '.join(result.classes)}), "
            f"{metrics['protocol']['description']}, "
            f"{metrics['protocol']['utterances']} utterances, preset {preset.name} (audio encoder "
            f"{preset.audio_features.upstream}), seeds {metrics['seeds']}, "
            f"{seconds:.0f} s"
        )
        print(table(metrics).to_markdown(index=False))
        chosen = ", ".join(f"{c['features']}" for c in metrics["baseline"]["best"]["chosen"])
        print(f"strongest classic feature set per fold (chosen on validation): {chosen}")
        print(f"timings (s): {', '.join(f'{k} {v:.0f}' for k, v in metrics['timings'].items())}")


if __name__ == "__main__":
    main()

"""Benchmark: prediction latency and throughput of a bundle: torch fp32, ONNX fp32 and ONNX int8.

(torch's own int8 path, ``torch.ao.quantization.quantize_dynamic``, is deprecated in torch 2.13 and
fails on the Transformer layers' attention projections, so int8 is measured through onnxruntime.)

    make demo                                            # a bundle of the default `cpu-ge2e` preset
    make demo DEMO_PRESET=cpu DEMO_OUT=build/cpu-run     # a bundle of the fast `cpu` preset
    .venv/bin/python bench/predict.py [--run build/demo-run/run] [--corpus build/demo-corpus]
                                      [--seconds 7.5] [--rate 22050] [--repeats 200] [--batch 32]

Prints, on this machine:
- the fp32 matmul peak (best of square matmuls through torch, all threads), the yardstick;
- single-utterance latency of a warm clip of ``--seconds`` of the demo's speech, stored at
  ``--rate`` Hz (so resampling is part of it) with its transcript (p50/p95): end to end
  (``predict``) and the model alone;
- where one torch ``predict`` spends its time (p50 of each step, the same functions ``predict``
  calls): decode, resample, mel + delta, eGeMAPS and the frozen voice encoder (when the preset reads
  them), text, model;
- batch throughput (utterances/s) and the share of the matmul peak it reaches, from the FLOPs the
  engines compute per utterance (both trim a batch to its longest clip and text);
- accuracy of each engine on the demo run's fold-0 test split (the bundle's own test split), and
  its agreement with torch fp32: what int8 costs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile
import torch
from machine import matmul_peak, timed  # bench/machine.py, beside this script
from sklearn.metrics import accuracy_score, f1_score

from vamer.data.readers import load
from vamer.features.audio import log_mel, mono_at, stored_mel
from vamer.features.functionals import egemaps
from vamer.features.inputs import model_audio
from vamer.features.upstream import model_states
from vamer.inference.bundle import read_bundle
from vamer.inference.export import export_onnx
from vamer.inference.intake import read_recording
from vamer.inference.predictor import Predictor
from vamer.presets.build import flops_per_utterance


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1e3
    return f"p50 {np.percentile(ms, 50):6.1f} ms  p95 {np.percentile(ms, 95):6.1f} ms"


def clip(corpus: Path, seconds: float, rate: int, out: Path) -> tuple[Path, str]:
    """A mono clip of exactly ``seconds`` at ``rate`` Hz made of consecutive demo utterances (speech,
    not noise), and the first utterance's transcript."""
    table = load(corpus, read_bio=False).utterances
    pieces, total = [], 0
    for path in table["audio_path"]:
        samples, source_rate = soundfile.read(path, dtype="float32")
        pieces.append(librosa.resample(samples, orig_sr=source_rate, target_sr=rate, res_type="soxr_hq"))
        total += len(pieces[-1])
        if total >= seconds * rate:
            break
    soundfile.write(str(out), np.concatenate(pieces)[: int(seconds * rate)], rate, subtype="PCM_16")
    return out, str(table["text"].iloc[0])


def time_split(predictor: Predictor, wav: Path, text: str, repeats: int) -> dict[str, float]:
    """p50 milliseconds of each step of one ``predict``, through the functions it calls."""
    preparer, config = predictor.preparer, predictor.audio_config
    recording = read_recording(wav, None, predictor.limits, config)
    mono = mono_at(recording.samples, recording.rate, config.sample_rate)
    prepared = predictor.prepare(wav, text)
    steps = {
        "decode": lambda: read_recording(wav, None, predictor.limits, config),
        "resample": lambda: mono_at(recording.samples, recording.rate, config.sample_rate),
        "mel + delta": lambda: model_audio(stored_mel(log_mel(mono, config), config), config.max_frames),
        "text": lambda: preparer.text(text),
        "model": lambda: predictor.run([prepared]),
    }
    if config.functionals == "egemaps":
        steps["eGeMAPS"] = lambda: egemaps(mono, config.sample_rate)
    if config.upstream:
        steps[f"{config.upstream} encoder"] = lambda: model_states(mono, config)
    return {name: 1e3 * statistics.median(timed(step) for _ in range(repeats)) for name, step in steps.items()}


def profiled(predictor: Predictor, corpus: Path, wav: Path, text: str, repeats: int) -> None:
    """Speaker context: enrolling a profile from 10 clips of one demo speaker, and one prediction
    with that profile (the same clip and text as above)."""
    if predictor.bundle.population is None:
        print("\nspeaker profiles: this bundle does not normalise per speaker")
        return
    table = load(corpus, read_bio=False).utterances
    speaker = table["speaker"].value_counts().index[0]
    clips = list(table.loc[table["speaker"] == speaker, "audio_path"])[:10]
    enrol = [timed(lambda: predictor.enrol(clips)) for _ in range(5)]
    statistics_, _ = predictor.enrol(clips)
    for _ in range(10):
        predictor.predict(wav, text, speaker=speaker, statistics=statistics_)
    with_profile = [
        timed(lambda: predictor.predict(wav, text, speaker=speaker, statistics=statistics_)) for _ in range(repeats)
    ]
    print(
        f"\nspeaker profile: enrol from {len(clips)} clips p50 {1e3 * statistics.median(enrol):.0f} ms; torch predict "
        f"with the profile {percentiles(with_profile)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--run",
        type=Path,
        default=Path("build/demo-run/run"),
        help="a `vamer run` folder (default: `make demo`'s, the cpu-ge2e preset; "
        "build/cpu-run/run for `make demo DEMO_PRESET=cpu DEMO_OUT=build/cpu-run`)",
    )
    parser.add_argument("--corpus", type=Path, default=Path("build/demo-corpus"))
    parser.add_argument("--seconds", type=float, default=7.5)
    parser.add_argument("--rate", type=int, default=22_050, help="sample rate the clip is stored at")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    bundle_dir = args.run / "bundle"
    bundle = read_bundle(bundle_dir)
    peak = matmul_peak()
    print(f"torch threads {torch.get_num_threads()}; fp32 matmul peak {peak:.1f} GFLOP/s; preset {bundle.preset.name}")

    scratch = Path(tempfile.mkdtemp(prefix="vamer-bench-"))
    export_onnx(bundle, scratch / "fp32.onnx")
    export_onnx(bundle, scratch / "int8.onnx", int8=True)
    engines = {
        "torch fp32": Predictor(bundle),
        "onnx fp32": Predictor(bundle, "onnx", scratch / "fp32.onnx"),
        "onnx int8": Predictor(bundle, "onnx", scratch / "int8.onnx"),
    }
    wav, text = clip(args.corpus, args.seconds, args.rate, scratch / "clip.wav")
    prepared = engines["torch fp32"].prepare(wav, text)
    frames, tokens = int(prepared.inputs["audio_mask"].sum()), int(prepared.inputs["text_mask"].sum())
    print(
        f"clip: {args.seconds:g} s mono at {args.rate} Hz ({frames} frames, {tokens} tokens); {args.repeats} "
        f"repeats after warm-up\n"
    )

    trimmed_frames = -(-frames // 8) * 8
    trimmed = flops_per_utterance(
        bundle.preset, len(bundle.classes), bundle.text_dim or 512, frames=trimmed_frames, tokens=-(-tokens // 8) * 8
    )

    def total(counts):
        return counts["fusion"] + counts["arousal"] + counts["valence"]

    print(
        f"{'engine':<11} {'end to end (predict)':<30} {'model only':<30} {'batch utt/s':>11} "
        f"{'GFLOP/utt':>9} {'% of peak':>9}"
    )
    for name, predictor in engines.items():
        for _ in range(10):
            predictor.predict(wav, text)
        end_to_end = [timed(lambda: predictor.predict(wav, text)) for _ in range(args.repeats)]
        model = [timed(lambda: predictor.run([prepared])) for _ in range(args.repeats)]
        batch = [prepared] * args.batch
        predictor.run(batch)
        batch_seconds = statistics.median(timed(lambda: predictor.run(batch)) for _ in range(10))
        rate = args.batch / batch_seconds
        flops = total(trimmed)  # both engines trim a batch to its longest clip and text
        print(
            f"{name:<11} {percentiles(end_to_end):<30} {percentiles(model):<30} {rate:11.1f} "
            f"{flops / 1e9:9.3f} {100 * rate * flops / 1e9 / peak:8.1f}%"
        )

    profiled(engines["torch fp32"], args.corpus, wav, text, args.repeats)

    split = time_split(engines["torch fp32"], wav, text, args.repeats)
    print(
        "\ntorch predict, time split (p50 per step, ms): "
        + ", ".join(f"{k} {v:.1f}" for k, v in split.items())
        + f"; sum {sum(split.values()):.1f}"
    )

    predictions = pd.read_csv(args.run / "predictions.csv")
    test = predictions[(predictions["variant"] == "fusion") & (predictions["fold"] == 0) & (predictions["seed"] == 0)]
    table = load(args.corpus, read_bio=False).utterances.set_index("utt_id").loc[test["utt_id"]]
    truth = list(test["true"])
    print(f"\ndemo fold-0 test split ({len(test)} utterances, the bundle's own test split):")
    reference = None
    for name, predictor in engines.items():
        results = predictor.predict_many(zip(table["audio_path"], table["text"]), batch_size=args.batch)
        labels = [r.get("label", "") for r in results]
        reference = reference or labels
        agreement = np.mean([a == b for a, b in zip(labels, reference)])
        print(
            f"  {name:<11} macro F1 "
            f"{f1_score(truth, labels, average='macro', labels=bundle.classes, zero_division=0):.3f}"
            f"  accuracy {accuracy_score(truth, labels):.3f}  same label as torch fp32 {100 * agreement:.1f}%"
        )
    print(
        f"\nrun's own fold-0 numbers (from training): macro F1 "
        f"{f1_score(truth, list(test['pred']), average='macro', labels=bundle.classes, zero_division=0):.3f}"
    )


if __name__ == "__main__":
    main()

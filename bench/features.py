"""Benchmark: end-to-end audio feature extraction (decode, resample, mel, delta, pad) on all cores.

    .venv/bin/python bench/features.py --corpus build/demo-corpus [--long 40]

Reports the real-time factor (seconds of audio per second of wall time) of vamer's extraction with
a cold cache, with a warm cache, and of a bare librosa loop (load + mel + delta + pad, no cache, no
accounting) over the same files with the same number of workers; the overhead is vamer / bare.
``--long N`` adds N synthetic 60 s clips at 44.1 kHz stereo (longer audio, resampling, downmix).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile
from joblib import Parallel, delayed

from vamer.data import load
from vamer.features.audio import to_model_input
from vamer.features.config import AudioFeatureConfig
from vamer.features.extract import extract_audio


def bare(path: str, config: AudioFeatureConfig) -> int:
    y, _ = librosa.load(path, sr=config.sample_rate, mono=True, res_type="soxr_hq")
    mel = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=y,
            sr=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            fmin=config.fmin,
            fmax=config.fmax,
        ),
        ref=np.max,
    ).T
    fixed, _ = to_model_input(mel[: config.max_frames], config.max_frames)
    return fixed.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--long", type=int, default=0, help="extra synthetic 60 s clips")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = AudioFeatureConfig()
    table = load(args.corpus, read_bio=False).utterances[["utt_id", "audio_path", "duration_s"]]
    with tempfile.TemporaryDirectory() as scratch:
        if args.long:
            rng = np.random.default_rng(0)
            rows = []
            for i in range(args.long):
                path = Path(scratch) / f"long{i}.wav"
                soundfile.write(path, rng.normal(0, 0.1, (60 * 44_100, 2)).astype(np.float32), 44_100)
                rows.append({"utt_id": f"long{i}", "audio_path": str(path), "duration_s": 60.0})
            table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
        audio_s = float(table["duration_s"].sum())
        print(f"{len(table)} files, {audio_s / 3600:.2f} h of audio, {args.jobs} workers")
        cold, warm, plain = [], [], []
        for repeat in range(args.repeats):
            cache = Path(scratch) / f"cache{repeat}"
            started = time.perf_counter()
            extract_audio(table, config, cache, jobs=args.jobs, progress=False)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            extract_audio(table, config, cache, jobs=args.jobs, progress=False)
            warm.append(time.perf_counter() - started)
            started = time.perf_counter()
            Parallel(n_jobs=args.jobs, batch_size=8)(delayed(bare)(p, config) for p in table["audio_path"])
            plain.append(time.perf_counter() - started)
        best = {name: min(times) for name, times in (("cold", cold), ("warm", warm), ("bare", plain))}
        print(f"vamer, cold cache: {best['cold']:.2f} s  -> {audio_s / best['cold']:.0f}x real time")
        print(f"vamer, warm cache: {best['warm']:.2f} s  -> {audio_s / best['warm']:.0f}x real time")
        print(f"bare librosa loop: {best['bare']:.2f} s  -> {audio_s / best['bare']:.0f}x real time")
        print(f"overhead vamer(cold) / bare: {best['cold'] / best['bare']:.2f}x (best of {args.repeats})")


if __name__ == "__main__":
    main()

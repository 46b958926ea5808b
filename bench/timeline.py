"""Throughput and peak memory of ``vamer predict --timeline`` on a long recording.

    .venv/bin/python bench/timeline.py --bundle build/demo-run/run/bundle [--minutes 60] [--corpus build/demo-corpus]
                                       [--asr whisper-base|none] [--asr-language ko]

Writes a recording of ``--minutes`` minutes (the demo corpus's utterances one after another, with
0.5 to 3 s of room tone between them; written block by block), then runs the command in its own
process and prints: wall time, hours of audio per hour on this machine, the child's peak resident
memory (``ru_maxrss``), how many segments it found, and how long each phase took (from the
command's progress lines).  ``--corpus`` is any folder with a ``wav/`` tree: the demo corpus
(synthetic Korean, which Whisper finds hard) or EmoDB's (real German speech: ``--asr-language de``).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile


def write_long(path: Path, corpus: Path, minutes: float, seed: int = 0) -> int:
    """The long recording, written as it is made; returns how many utterances it holds."""
    rng = np.random.default_rng(seed)
    # Shuffled: sorted names put one speaker's takes of one sentence side by side (EmoDB has 10
    # sentences), and a window of one sentence said five times looks like a decoding loop to Whisper.
    wavs = [Path(p) for p in rng.permutation(sorted(map(str, (corpus / "wav").rglob("*.wav"))))]
    target, written, count = minutes * 60 * 16_000, 0, 0
    with soundfile.SoundFile(path, "w", samplerate=16_000, channels=1, subtype="PCM_16") as out:
        while written < target:
            samples, rate = soundfile.read(wavs[count % len(wavs)], dtype="float32")
            if rate != 16_000:  # the shared EmoDB manifest holds 22.05 kHz clips
                samples = librosa.resample(samples, orig_sr=rate, target_sr=16_000)
            gap = rng.normal(0, 1e-4, int(rng.uniform(0.5, 3.0) * 16_000)).astype(np.float32)
            for part in (gap, samples):
                out.write(part)
                written += len(part)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("build/demo-run/run/bundle"))
    parser.add_argument("--corpus", type=Path, default=Path("build/demo-corpus"))
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--asr", default="whisper-base")
    parser.add_argument("--asr-language", default="ko")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        long = Path(folder) / "long.wav"
        started = time.perf_counter()
        utterances = write_long(long, args.corpus, args.minutes)
        print(
            f"wrote {args.minutes:g} min ({utterances} utterances, {long.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.0f} s"
        )
        command = [
            sys.executable,
            "-m",
            "vamer.cli",
            "predict",
            str(long),
            "--bundle",
            str(args.bundle),
            "--timeline",
            "--out",
            str(Path(folder) / "timeline.csv"),
            "--figure",
            str(Path(folder) / "timeline.png"),
            "--asr",
            args.asr,
            "--asr-language",
            args.asr_language,
        ]
        started = time.perf_counter()
        job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        phases: dict[str, float] = {}
        log = []
        for line in job.stderr:  # "<phase>: <done> of <total>" lines, timed as they come
            log.append(line)
            if " of " in line:
                phases.setdefault(line.split(":")[0], time.perf_counter() - started)
        output = job.stdout.read()
        job.wait()
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if job.returncode:
            sys.exit(f"the command failed ({job.returncode}):\n{''.join(log)}")
        progress = [line.strip() for line in log if " of " in line]
        print(output.strip())
        starts = [("loading", 0.0)] + sorted(phases.items(), key=lambda item: item[1]) + [("end", wall)]
        print(
            "phases (from the first progress line of each to the next): "
            + ", ".join(f"{name} {after - at:.0f} s" for (name, at), (_, after) in zip(starts, starts[1:]))
        )
        print(f"progress lines in the log: {len(progress)} (first: {progress[0] if progress else '-'})")
        print(
            f"{args.minutes:g} min of audio in {wall:.0f} s: {args.minutes * 60 / wall:.1f} hours of audio per "
            f"hour; peak resident memory {peak_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()

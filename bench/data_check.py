"""Benchmark: reading a KEMDy20-sized corpus into the utterance table (``vamer data check``'s work).

    .venv/bin/python bench/data_check.py                    # generates a 40 x 340 synthetic corpus first
    .venv/bin/python bench/data_check.py --corpus PATH      # any dataset vamer can read

Prints wall times of generation (when it generates), load (annotations + wav headers + transcripts
+ bio-signals) and summary, plus peak memory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from vamer.data import load
from vamer.data.demo import generate_demo
from vamer.data.summary import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="existing dataset; default: generate one")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--segments", type=int, default=340, help="segments per session (KEMDy20: ~340)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        corpus = args.corpus
        if corpus is None:
            corpus = Path(scratch) / "demo"
            started = time.perf_counter()
            info = generate_demo(corpus, sessions=args.sessions, segments_per_session=args.segments, progress=False)
            print(
                f"generate: {info['segments']} segments, {info['audio_hours']:.2f} h audio "
                f"in {time.perf_counter() - started:.1f} s"
            )
        load_times, summary_times = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = load(corpus)
            load_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            summarize(result)
            summary_times.append(time.perf_counter() - started)
        bio_rows = 0 if result.bio is None else len(result.bio)
        print(f"corpus: {result.source_rows} source rows, {len(result.utterances)} kept, {bio_rows} bio samples")
        print(
            f"load: best {min(load_times):.2f} s of {args.repeats} ({result.source_rows / min(load_times):.0f} rows/s)"
        )
        print(f"summary: best {min(summary_times):.2f} s")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

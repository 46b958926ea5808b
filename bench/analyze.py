"""Benchmark: the stages of ``vamer analyze`` on one corpus.

    .venv/bin/python bench/analyze.py --corpus PATH [--max-series 1000]

Prints the wall time of each stage (load, ratings statistics, coverage and gaps, segment responses,
DTW series, DTW k-means sweep) and peak memory.  Generate a KEMDy20-sized corpus first with
``vamer data demo /tmp/bigdemo --sessions 40 --segments 340``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from vamer.analysis import biosignals
from vamer.analysis.config import AnalysisConfig
from vamer.analysis.dtw import dtw_study, segment_series
from vamer.analysis.ratings import rating_statistics
from vamer.data import load


def timed(label: str, work):
    started = time.perf_counter()
    value = work()
    print(f"{label:<28} {time.perf_counter() - started:8.2f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--max-series", type=int, default=AnalysisConfig().max_series)
    args = parser.parse_args()
    config = AnalysisConfig(max_series=args.max_series)

    result = timed("load", lambda: load(args.corpus))
    print(f"  {len(result.utterances)} utterances, {0 if result.bio is None else len(result.bio)} bio samples")
    for rating in ("arousal", "valence"):
        timed(
            f"{rating} statistics", lambda: rating_statistics(result.utterances, result.classes, rating, config.alpha)
        )
    timed("coverage + gaps", lambda: (biosignals.coverage(result.utterances, result.bio), biosignals.gaps(result.bio)))
    responses, _ = timed("segment responses", lambda: biosignals.segment_responses(result.bio))
    timed("association tests", lambda: biosignals.association(responses, result.utterances, result.classes))
    series, _ = timed(
        "DTW series",
        lambda: segment_series(result.bio, config.dtw_signal, config.min_series_length, config.normalize_series),
    )
    emotions = result.utterances.set_index("utt_id")["emotion"]
    study = timed(
        f"DTW k-means k={config.k_min}..{config.k_max}",
        lambda: dtw_study(
            series,
            emotions,
            range(config.k_min, config.k_max + 1),
            config.max_series,
            config.seed,
            config.normalize_series,
            config.kmeans_max_iter,
        ),
    )
    print(f"  {study.get('clustered')} of {len(series)} series clustered; chosen k = {study.get('chosen_k')}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

"""Benchmark: how well and how fast offline speech recognition (``--asr whisper-base``) hears words.

    .venv/bin/python bench/asr.py [--corpus ../shared/data/emodb/manifest.csv --language de]
                                  [--corpus build/demo-corpus --language ko] [--limit 60] [--seed 0]

For each corpus: a random sample of ``--limit`` clips that have a transcript (0: all), recognised
one by one as ``vamer predict`` does (the clip alone), then all together, packed, as ``vamer data
transcribe`` and timelines do; both against the corpus's own text.  Prints the pooled character
error rate (spaces and punctuation ignored), the share of clips recognised exactly, a few
examples, and the cost: seconds per clip (p50, p95 alone; the mean packed) and the real-time
factor on this machine's cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import librosa
import numpy as np

from vamer.data import load
from vamer.data.transcripts import clean_transcript
from vamer.speech import character_error_rate, comparable, load_recognizer
from vamer.speech.whisper import SAMPLE_RATE

EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "manifest.csv"


def measure(corpus: Path, language: str, limit: int, seed: int) -> None:
    table = load(corpus, read_bio=False).utterances
    table = table[table["text"].fillna("").map(clean_transcript).str.len() > 0]
    if limit and len(table) > limit:
        table = table.sample(limit, random_state=seed)
    recognizer = load_recognizer("whisper-base", language)
    recognizer.transcribe(np.zeros(SAMPLE_RATE, np.float32))  # warm-up
    references, hypotheses, seconds, audio, clips = [], [], [], 0.0, []
    for path, text in zip(table["audio_path"], table["text"]):
        samples, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True, res_type="soxr_hq")
        clips.append(samples)
        started = time.perf_counter()
        heard = recognizer.transcribe(samples)
        seconds.append(time.perf_counter() - started)
        audio += len(samples) / SAMPLE_RATE
        references.append(clean_transcript(text))
        hypotheses.append(heard.text)
    cer = character_error_rate(references, hypotheses)
    exact = np.mean([comparable(r) == comparable(h) for r, h in zip(references, hypotheses)])
    print(f"\n{corpus} ({language}): {len(references)} clips, {audio:.0f} s of audio")
    print(f"  character error rate {cer:.3f} (pooled, spaces and punctuation ignored); exact {exact:.0%} of clips")
    for reference, hypothesis in list(zip(references, hypotheses))[:4]:
        print(f"    {reference}  ->  {hypothesis}")
    ms = np.array(seconds)
    print(
        f"  cost: {np.percentile(ms, 50):.2f} s per clip p50, {np.percentile(ms, 95):.2f} s p95; "
        f"real-time factor {ms.sum() / audio:.3f} ({audio / ms.sum():.1f}x real time)"
    )
    started = time.perf_counter()
    packed = [heard.text for heard in recognizer.transcribe_many(clips)]
    spent = time.perf_counter() - started
    exact = np.mean([comparable(r) == comparable(h) for r, h in zip(references, packed)])
    print(
        f"  packed: character error rate {character_error_rate(references, packed):.3f}, exact {exact:.0%} of "
        f"clips, {sum(not h for h in packed)} clips without words; {spent / len(clips):.2f} s per clip, "
        f"{audio / spent:.1f}x real time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="a dataset or manifest (repeatable; default: EmoDB and build/demo-corpus)",
    )
    parser.add_argument("--language", action="append", help="one per --corpus (default: de for EmoDB, ko)")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    corpora = args.corpus or [EMODB, Path("build/demo-corpus")]
    languages = args.language or (["de", "ko"] if not args.corpus else ["ko"] * len(corpora))
    if len(languages) != len(corpora):
        parser.error("give one --language per --corpus")
    for corpus, language in zip(corpora, languages):
        measure(corpus, language, args.limit, args.seed)


if __name__ == "__main__":
    main()

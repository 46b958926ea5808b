"""Benchmark: text encoders — throughput, and the measurement behind the default encoder.

    .venv/bin/python bench/text.py --corpus build/demo-corpus [--hf PATH_OR_ID] [--cv speaker:5]

For each encoder: sentences/s of token encoding, and the text-only macro F1 / UA of a
class-balanced logistic regression on its sentence representation over speaker-independent
folds (for ``trainable``: bag of SentencePiece pieces, i.e. what a learned embedding starts from).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vamer.data import load
from vamer.features.splits import make_folds
from vamer.features.text import TrainableTokens, make_text_encoder
from vamer.metrics import aggregate, classification_metrics


def scores(matrix, labels, folds, position, classes, scale=True):
    runs = []
    for fold in folds:
        fit = [position[u] for u in (*fold.train, *fold.val)]
        test = [position[u] for u in fold.test]
        steps = [StandardScaler()] if scale else []
        model = make_pipeline(*steps, LogisticRegression(class_weight="balanced", max_iter=3000, random_state=0))
        model.fit(matrix[fit], labels[fit])
        runs.append(classification_metrics(labels[test], model.predict(matrix[test]), classes))
    summary = aggregate(runs, classes)
    return summary["macro_f1"]["mean"], summary["ua"]["mean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--hf", help="also measure a Hugging Face encoder (folder or hub id)")
    parser.add_argument("--cv", default="speaker:5")
    args = parser.parse_args()
    result = load(args.corpus, read_bio=False)
    table = result.utterances
    texts = list(table["text"].fillna(""))
    labels = table["emotion"].to_numpy()
    position = {u: i for i, u in enumerate(table["utt_id"])}
    folds = make_folds(table, args.cv)
    print(f"{len(texts)} texts, {args.cv}, {len(folds)} folds")
    specs = ["use", "trainable"] + ([f"hf:{args.hf}"] if args.hf else [])
    for spec in specs:
        encoder = make_text_encoder(spec)
        if isinstance(encoder, TrainableTokens):
            started = time.perf_counter()
            encoder.fit(texts).encode(texts)
            rate = len(texts) / (time.perf_counter() - started)
            pieces = [" ".join(map(str, encoder._pieces(t))) for t in texts]
            matrix = CountVectorizer(token_pattern=r"\S+").fit_transform(pieces)
            macro, ua = scores(matrix, labels, folds, position, result.classes, scale=False)
        else:
            started = time.perf_counter()
            encoder.encode(texts)
            rate = len(texts) / (time.perf_counter() - started)
            macro, ua = scores(encoder.sentence_vectors(texts), labels, folds, position, result.classes)
        print(f"{spec:<12} {rate:8.0f} sentences/s   text-only LR macro F1 {macro:.3f}  UA {ua:.3f}")
    majority = table["emotion"].value_counts().idxmax()
    runs = [
        classification_metrics(labels[[position[u] for u in f.test]], [majority] * len(f.test), result.classes)
        for f in folds
    ]
    print(f"{'majority':<12} {'':>8}               macro F1 {aggregate(runs, result.classes)['macro_f1']['mean']:.3f}")


if __name__ == "__main__":
    main()

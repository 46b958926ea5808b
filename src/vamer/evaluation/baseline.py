"""The classic baseline every model report stands beside, and the always-majority baseline.

- audio: MFCC(40) and its delta, mean and std over time, plus log-mel mean and std (from the
  cached log-mel, so no second decode);
- text: the offline encoder's 512-d sentence vector;
- classifier: StandardScaler -> class-balanced logistic regression (scikit-learn), fitted on each
  fold's train + val (it has no early stopping to validate) and scored on its test split.
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vamer.evaluation.metrics import aggregate, classification_metrics
from vamer.features.audio import time_delta
from vamer.features.splits import Fold
from vamer.features.text import UseEncoder

N_MFCC = 40


def audio_statistics(mel: np.ndarray) -> np.ndarray:
    """Log-mel ``[T, n_mels]`` (dB) -> MFCC/delta mean+std and log-mel mean+std, one vector."""
    mel = np.asarray(mel, dtype=np.float32)
    mfcc = librosa.feature.mfcc(S=mel.T, n_mfcc=N_MFCC)  # [40, T]
    delta = time_delta(mfcc, axis=1)
    parts = [mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1), mel.mean(0), mel.std(0)]
    return np.concatenate(parts).astype(np.float32)


def baseline_features(table: pd.DataFrame, mels: dict[str, np.ndarray], encoder: UseEncoder | None = None
                      ) -> dict[str, np.ndarray]:
    """Per-utterance design matrices for 'audio', 'text' and 'both', rows in ``table`` order."""
    encoder = encoder or UseEncoder()
    audio = np.stack([audio_statistics(mels[u]) for u in table["utt_id"]])
    text = encoder.sentence_vectors(list(table["text"].fillna("")))
    return {"audio": audio, "text": text, "both": np.hstack([audio, text])}


def run_baselines(table: pd.DataFrame, folds: list[Fold], features: dict[str, np.ndarray], classes: list[str],
                  seed: int = 0) -> dict[str, Any]:
    """Fit and score the classic baseline per modality and the majority baseline on every fold."""
    position = {u: i for i, u in enumerate(table["utt_id"])}
    labels = table["emotion"].to_numpy()
    runs: dict[str, list] = {name: [] for name in (*features, "majority")}
    predictions = []
    for fold in folds:
        fit = np.array([position[u] for u in (*fold.train, *fold.val) if u in position])
        test = np.array([position[u] for u in fold.test if u in position])
        majority = pd.Series(labels[fit]).value_counts().idxmax()
        runs["majority"].append(classification_metrics(labels[test], [majority] * len(test), classes))
        for name, matrix in features.items():
            model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=3000,
                                                                       random_state=seed))
            model.fit(matrix[fit], labels[fit])
            predicted = model.predict(matrix[test])
            runs[name].append(classification_metrics(labels[test], predicted, classes))
            predictions.extend({"utt_id": table["utt_id"].iloc[i], "fold": fold.index, "model": name,
                                "true": labels[i], "pred": p} for i, p in zip(test, predicted))
    frame = pd.DataFrame(predictions)
    result = {}
    for name, fold_runs in runs.items():
        result[name] = aggregate(fold_runs, classes)
        result[name]["folds"] = fold_runs
        if name != "majority":
            mine = frame[frame["model"] == name]
            result[name]["pooled_over_folds"] = classification_metrics(list(mine["true"]), list(mine["pred"]), classes)
    return result

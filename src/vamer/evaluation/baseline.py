"""The classic baseline every model report stands beside, and the always-majority baseline.

- audio: MFCC(40) and its delta, mean and std over time, plus log-mel mean and std (from the
  cached log-mel, so no second decode);
- text: the offline encoder's 512-d sentence vector;
- egemaps: openSMILE's eGeMAPSv02 functionals (88 values, :mod:`vamer.features.functionals`);
- classifier: StandardScaler -> class-balanced logistic regression (scikit-learn), its C chosen on
  the fold's validation split, refitted on train + val and scored on the test split;
- probe: a linear probe of the frozen speech encoder the model reads (``ge2e`` or ``hf:``), the same
  classifier on its pooled states flattened; a network that does not beat a linear probe of its
  own input is not worth its cost;
- best: per fold, the classic feature set with the best validation macro F1 (never chosen on test;
  the probe is not a classic feature set and is reported beside it);
- ratings: ridge regressions of arousal and valence on the same feature sets (alpha chosen on
  validation, refitted on train + val), scored by CCC and RMSE on test.  They tell how much of each
  rating a linear model hears in the audio or reads in the words, next to the pretrained encoders.
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vamer.errors import VamerError
from vamer.features.audio import time_delta
from vamer.features.config import AudioFeatureConfig
from vamer.features.speakers import normalise_rows, speaker_column
from vamer.features.splits import Fold
from vamer.features.store import FeatureStore
from vamer.features.text import UseEncoder
from vamer.metrics import aggregate, classification_metrics, concordance

N_MFCC = 40
C_GRID = (0.01, 0.1, 1.0)  # inverse regularisation strengths tried on validation
ALPHA_GRID = (1.0, 10.0, 100.0, 1000.0)  # ridge strengths tried on validation
RATINGS = ("arousal", "valence")


def mel_statistics(mel: np.ndarray) -> np.ndarray:
    """Log-mel ``[T, n_mels]`` (dB) -> MFCC/delta mean+std and log-mel mean+std, one vector."""
    mel = np.asarray(mel, dtype=np.float32)
    mfcc = librosa.feature.mfcc(S=mel.T, n_mfcc=N_MFCC)  # [40, T]
    delta = time_delta(mfcc, axis=1)
    parts = [mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1), mel.mean(0), mel.std(0)]
    return np.concatenate(parts).astype(np.float32)


PROBE = "probe"  # the linear probe's feature set: not a classic one, never picked as ``best``


def baseline_features(
    store: FeatureStore,
    encoder: UseEncoder | None = None,
    functionals: np.ndarray | None = None,
    audio_config: AudioFeatureConfig | None = None,
) -> dict[str, np.ndarray]:
    """Per-utterance design matrices, rows in ``table`` order: ``audio`` (MFCC/mel statistics),
    ``egemaps`` (when ``functionals`` are given), ``text`` (sentence vector), ``both`` (audio + text),
    ``all`` (every classic part) and ``probe`` (a frozen speech encoder's pooled states
    ``[rows, hidden]`` per utterance, flattened, when the store holds them), from ``store``'s table,
    mels and frozen encoder states.

    With ``audio_config.speaker_norm`` (z or mean), the frozen inputs the model normalises per speaker (eGeMAPS and
    the probe's states) are normalised the same way here (:func:`vamer.features.speakers.normalise_rows`),
    so the baselines see the speaker context the model sees."""
    table, mels, upstream = store.table, store.mels, store.upstream
    audio_config = audio_config or AudioFeatureConfig()
    speaker_norm, min_clips = audio_config.speaker_norm, audio_config.speaker_min_clips
    prior_clips = audio_config.speaker_prior_clips
    encoder = encoder or UseEncoder()
    speakers = list(speaker_column(table).values())
    audio = np.stack([mel_statistics(mels[u]) for u in table["utt_id"]])
    text = encoder.sentence_vectors(list(table["text"].fillna("")))
    features = {"audio": audio}
    if functionals is not None:
        features["egemaps"] = normalise_rows(
            np.asarray(functionals, dtype=np.float32), speakers, speaker_norm, min_clips, prior_clips
        )
    features |= {"text": text, "both": np.hstack([audio, text])}
    if functionals is not None:
        features["all"] = np.hstack([audio, features["egemaps"], text])
    if upstream:
        states = np.stack([np.asarray(upstream[u], dtype=np.float32).reshape(-1) for u in table["utt_id"]])
        features[PROBE] = normalise_rows(states, speakers, speaker_norm, min_clips, prior_clips)
    return features


def _classifier(c: float, seed: int):
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)
    )


def _macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> float:
    return classification_metrics(truth, predicted, classes)["macro_f1"]


def _fit_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, c: float, seed: int) -> np.ndarray:
    return _classifier(c, seed).fit(x, y).predict(x_new)


def run_baselines(
    table: pd.DataFrame,
    folds: list[Fold],
    features: dict[str, np.ndarray],
    classes: list[str],
    seed: int = 0,
    jobs: int = -1,
) -> dict[str, Any]:
    """Fit and score the classic baseline per feature set and the majority baseline on every fold.

    Per fold and feature set, the regularisation C is chosen on the validation split (fit on train),
    then the model is refitted on train + val and scored on test.  ``best`` is, per fold, the feature
    set whose validation macro F1 was highest: the strongest classic model, chosen without the test
    (among the classic sets: the linear probe of a pretrained encoder stands on its own).
    """
    position = {u: i for i, u in enumerate(table["utt_id"])}
    labels = table["emotion"].to_numpy()
    runs: dict[str, list] = {name: [] for name in (*features, "best", "majority")}
    predictions, chosen = [], []
    for fold in folds:
        fit = np.array([position[u] for u in fold.train if u in position])
        val = np.array([position[u] for u in fold.val if u in position])
        test = np.array([position[u] for u in fold.test if u in position])
        both = np.concatenate([fit, val])
        if len(set(labels[fit])) < 2:
            raise VamerError(
                f"fold {fold.index}: its training split holds the class {labels[fit][0]!r} only, so no "
                "classifier can be fitted; choose a --cv whose groups mix the classes"
            )
        majority = pd.Series(labels[both]).value_counts().idxmax()
        runs["majority"].append(classification_metrics(labels[test], [majority] * len(test), classes))
        scores = {}
        # Every (feature set, C) fit of a fold is independent: joblib spreads them over the cores.
        grid = [(name, c) for name in features for c in C_GRID]
        fitted = Parallel(n_jobs=jobs)(
            delayed(_fit_predict)(features[name][fit], labels[fit], features[name][val], c, seed) for name, c in grid
        )
        tried_all = {key: _macro_f1(labels[val], predicted, classes) for key, predicted in zip(grid, fitted)}
        for name in features:
            tried = {c: tried_all[(name, c)] for c in C_GRID}
            c = max(tried, key=tried.get)
            scores[name] = (tried[c], c)
        refits = dict(
            zip(
                features,
                Parallel(n_jobs=jobs)(
                    delayed(_fit_predict)(
                        features[name][both], labels[both], features[name][test], scores[name][1], seed
                    )
                    for name in features
                ),
            )
        )
        for name in features:
            c, predicted = scores[name][1], refits[name]
            runs[name].append(classification_metrics(labels[test], predicted, classes) | {"C": c})
            predictions.extend(
                {"utt_id": table["utt_id"].iloc[i], "fold": fold.index, "model": name, "true": labels[i], "pred": p}
                for i, p in zip(test, predicted)
            )
        best = max((name for name in scores if name != PROBE), key=lambda name: scores[name][0])
        runs["best"].append(runs[best][-1] | {"features": best})
        chosen.append({"fold": fold.index, "features": best, "C": scores[best][1], "val_macro_f1": scores[best][0]})
        predictions.extend(
            [{**row, "model": "best"} for row in predictions if row["model"] == best and row["fold"] == fold.index]
        )
    frame = pd.DataFrame(predictions)
    result = {}
    for name, fold_runs in runs.items():
        result[name] = aggregate(fold_runs, classes)
        result[name]["folds"] = fold_runs
        if name != "majority":
            mine = frame[frame["model"] == name]
            result[name]["pooled_over_folds"] = classification_metrics(list(mine["true"]), list(mine["pred"]), classes)
    result["best"]["chosen"] = chosen
    return result


def _regressor(alpha: float):
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))


def run_rating_baselines(table: pd.DataFrame, folds: list[Fold], features: dict[str, np.ndarray]) -> dict[str, Any]:
    """Ridge regression of each rating on each feature set, on the folds of the classifiers.

    Returns ``{rating: {feature set: {"ccc": {mean, std}, "rmse": {mean, std}, "alpha": [per fold]}}}``
    over folds; a rating the table lacks (NaN everywhere, e.g. a manifest without ratings) is left
    out, and utterances without a rating are left out of that rating's fits and scores.
    """
    position = {u: i for i, u in enumerate(table["utt_id"])}
    result: dict[str, Any] = {}
    for rating in RATINGS:
        values = table[rating].to_numpy(dtype=float) if rating in table else np.full(len(table), np.nan)
        if np.isfinite(values).sum() < 2:
            continue
        scores: dict[str, dict[str, list]] = {name: {"ccc": [], "rmse": [], "alpha": []} for name in features}
        for fold in folds:

            def rows(ids):
                return np.array(
                    [i for i in (position[u] for u in ids if u in position) if np.isfinite(values[i])], dtype=int
                )

            fit, val, test = rows(fold.train), rows(fold.val), rows(fold.test)
            if len(fit) < 2 or len(val) < 2 or len(test) < 2:
                continue
            both = np.concatenate([fit, val])
            for name, matrix in features.items():
                tried = {
                    a: concordance(_regressor(a).fit(matrix[fit], values[fit]).predict(matrix[val]), values[val])
                    for a in ALPHA_GRID
                }
                alpha = max(tried, key=lambda a: np.nan_to_num(tried[a], nan=-1.0))
                predicted = _regressor(alpha).fit(matrix[both], values[both]).predict(matrix[test])
                scores[name]["ccc"].append(concordance(predicted, values[test]))
                scores[name]["rmse"].append(float(np.sqrt(np.mean((predicted - values[test]) ** 2))))
                scores[name]["alpha"].append(alpha)
        result[rating] = {
            name: {key: {"mean": float(np.mean(s[key])), "std": float(np.std(s[key]))} for key in ("ccc", "rmse")}
            | {"alpha": s["alpha"]}
            for name, s in scores.items()
            if s["ccc"]
        }
    return result

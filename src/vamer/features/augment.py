"""Augmentation of the training split: frequency masks on the log-mel, EDA's random swap and
random deletion on words, and the balancing policy that decides which copies to make.

Every copy draws from its own generator, seeded by (seed, source utterance, copy number), so
copies differ from each other (the original implementation reseeded inside its mask function and
made every mask identical) and the same seed gives the same copies.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> random_swap(["a", "b", "c", "d"], 0.3, rng)
['a', 'b', 'd', 'c']
>>> random_deletion(["a", "b", "c", "d"], 0.3, np.random.default_rng(1))
['a', 'b', 'd']
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from vamer.features.audio import DB_FLOOR
from vamer.features.config import AugmentConfig

# Per copy number, what each policy does.  The method's three copies: RS; noise mask; RD + noise mask.
COPY_RECIPES = {
    "both": (("text_swap",), ("audio_noise_mask",), ("text_delete", "audio_noise_mask")),
    "audio": (("audio_mask",), ("audio_noise_mask",), ("audio_mask", "audio_noise_mask")),
    "text": (("text_swap",), ("text_delete",), ("text_swap", "text_delete")),
}


def copy_rng(seed: int, utt_id: str, copy: int) -> np.random.Generator:
    digest = int.from_bytes(hashlib.sha256(utt_id.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed, digest, copy])


def frequency_mask(
    mel: np.ndarray, rng: np.random.Generator, min_bins: int, max_bins: int, fill: str = "floor"
) -> np.ndarray:
    """A copy of ``mel`` ``[T, n_mels]`` with one band of min..max mel bins replaced.

    ``fill="floor"``: the band is set to the dB floor (frequency masking).
    ``fill="noise"``: uniform noise across the feature's dB range (the method's random masking).
    """
    out = np.array(mel, dtype=np.float32, copy=True)
    n_mels = out.shape[1]
    width = int(rng.integers(min(min_bins, n_mels), min(max_bins, n_mels) + 1))
    start = int(rng.integers(0, n_mels - width + 1))
    if fill == "noise":
        out[:, start : start + width] = rng.uniform(DB_FLOOR, 0.0, size=(out.shape[0], width))
    else:
        out[:, start : start + width] = DB_FLOOR
    return out


def random_swap(words: list[str], ratio: float, rng: np.random.Generator) -> list[str]:
    """EDA's RS: swap two random words, max(1, ratio * n) times."""
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(max(1, int(ratio * len(out)))):
        i, j = rng.choice(len(out), size=2, replace=False)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], ratio: float, rng: np.random.Generator) -> list[str]:
    """EDA's RD: drop each word with probability ``ratio``; one word always survives."""
    if len(words) < 2:
        return list(words)
    kept = [w for w in words if rng.random() >= ratio]
    return kept or [words[int(rng.integers(len(words)))]]


def copies_per_class(counts: dict[str, int], config: AugmentConfig) -> dict[str, int]:
    """Extra copies per utterance of each class: the configured ones, or enough to lift each class
    below ``minority_ratio`` of the largest one up to that share, capped at ``max_copies``.

    On KEMDy20's counts this gives the method's choice: surprise, angry and sad 3 each, happy none.

    >>> copies_per_class({"neutral": 11120, "happy": 1183, "surprise": 156, "angry": 144, "sad": 121},
    ...                  AugmentConfig(policy="both"))
    {'neutral': 0, 'happy': 0, 'surprise': 3, 'angry': 3, 'sad': 3}
    """
    if config.copies is not None:
        return {label: int(config.copies.get(label, 0)) for label in counts}
    largest = max(counts.values(), default=0)
    wanted = config.minority_ratio * largest
    return {
        label: 0 if not n or n >= wanted else min(config.max_copies, math.ceil(wanted / n) - 1)
        for label, n in counts.items()
    }


def plan_copies(train: pd.DataFrame, config: AugmentConfig) -> pd.DataFrame:
    """The augmented copies of the training rows: utt_id ``<source>#aug<k>``, aug_of, copy, ops,
    emotion, text.  Audio ops are applied later, on the cached mel (see :func:`augment_mel`)."""
    columns = ["utt_id", "aug_of", "copy", "ops", "emotion", "text"]
    if config.policy == "none":
        return pd.DataFrame(columns=columns)
    recipes = COPY_RECIPES[config.policy]
    per_class = copies_per_class(train["emotion"].value_counts().to_dict(), config)
    rows = []
    for source in train.itertuples(index=False):
        for copy in range(per_class.get(source.emotion, 0)):
            ops = recipes[copy % len(recipes)]
            rng = copy_rng(config.seed, source.utt_id, copy)
            words = str(source.text).split()
            if "text_swap" in ops:
                words = random_swap(words, config.text_ratio, rng)
            if "text_delete" in ops:
                words = random_deletion(words, config.text_ratio, rng)
            rows.append(
                {
                    "utt_id": f"{source.utt_id}#aug{copy + 1}",
                    "aug_of": source.utt_id,
                    "copy": copy + 1,
                    "ops": "+".join(ops),
                    "emotion": source.emotion,
                    "text": " ".join(words),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def augment_mel(mel: np.ndarray, ops: str, config: AugmentConfig, utt_id: str, copy: int) -> np.ndarray:
    """Apply a copy's audio ops to the clean mel (unchanged when it has none)."""
    rng = copy_rng(config.seed + 1, utt_id, copy)
    for op in ops.split("+"):
        if op in ("audio_mask", "audio_noise_mask"):
            mel = frequency_mask(
                mel,
                rng,
                config.mask_min_bins,
                config.mask_max_bins,
                fill="noise" if op == "audio_noise_mask" else "floor",
            )
    return mel


def class_counts(before: pd.DataFrame, copies: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """Per class: n before, copies added, n after (the report the policy owes its user)."""
    added = copies["emotion"].value_counts() if len(copies) else pd.Series(dtype=int)
    counts = before["emotion"].value_counts()
    return pd.DataFrame(
        {
            "class": classes,
            "before": [int(counts.get(c, 0)) for c in classes],
            "added": [int(added.get(c, 0)) for c in classes],
            "after": [int(counts.get(c, 0) + added.get(c, 0)) for c in classes],
        }
    )

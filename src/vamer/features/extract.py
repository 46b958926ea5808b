"""Audio feature extraction for a whole utterance table: parallel over cores, cached, accounted.

>>> # extract_audio(table, AudioFeatureConfig(), "cache/") -> AudioFeatures(mels, skipped, stats)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from vamer.features.audio import AudioError, features_from_bytes, stored_mel
from vamer.features.cache import FeatureCache
from vamer.features.config import AudioFeatureConfig
from vamer.progress import tracked

log = logging.getLogger("vamer.features")

AUDIO_KIND = "audio-logmel"


@dataclass
class AudioFeatures:
    """``mels``: utt_id -> log-mel ``[T <= max_frames, n_mels]`` float16; ``skipped``: utt_id, reason, detail."""

    mels: dict[str, np.ndarray]
    skipped: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


def _settings(config: AudioFeatureConfig) -> dict[str, Any]:
    return {"kind": AUDIO_KIND, **config.model_dump(), "version": 2}  # 2: decodes only read_seconds


def mel_layout(config: AudioFeatureConfig) -> tuple[tuple[None, int], type]:
    """The shape and dtype of a cached log-mel (see :func:`stored_mel`): what reading one checks."""
    return (None, config.n_mels), np.float16


def _extract_one(
    utt_id: str, path: str, config: AudioFeatureConfig, cache_root: str
) -> tuple[str, str, str | np.ndarray, int, list[str]]:
    """Runs in a worker: returns (utt_id, status, the key (status cached or computed), the log-mel
    itself (uncached: the cache could not store it) or the reason's detail, frames before cropping,
    the cache's warnings for the parent to show)."""
    reports: list[str] = []
    cache = FeatureCache(cache_root, report=reports.append)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return utt_id, "unreadable_wav", str(error), 0, reports
    key = cache.key(data, _settings(config))
    if cache.get(AUDIO_KIND, key, *mel_layout(config)) is not None:
        return utt_id, "cached", key, -1, reports
    try:
        mel = features_from_bytes(data, config)
    except AudioError as error:
        return utt_id, error.reason, str(error), 0, reports
    stored = stored_mel(mel, config)
    if not cache.put(AUDIO_KIND, key, stored):
        return utt_id, "uncached", stored, int(mel.shape[0]), reports
    return utt_id, "computed", key, int(mel.shape[0]), reports


def extract_audio(
    table: pd.DataFrame,
    config: AudioFeatureConfig,
    cache_root: str | Path,
    jobs: int | None = None,
    progress: bool = True,
) -> AudioFeatures:
    """Log-mel of every utterance in ``table`` (columns utt_id, audio_path), computed once per
    (file content, settings); unusable audio is skipped with its reason, never fatal."""
    started = time.perf_counter()
    rows = list(zip(table["utt_id"], table["audio_path"]))
    runner = Parallel(n_jobs=jobs or -1, return_as="generator_unordered", batch_size=8)
    results = runner(delayed(_extract_one)(utt_id, path, config, str(cache_root)) for utt_id, path in rows)
    results = list(tracked(results, "audio features", len(rows), quiet=not progress))
    cache = FeatureCache(cache_root)
    mels: dict[str, np.ndarray] = {}
    skipped = []
    cropped = 0
    for utt_id, status, detail, frames, reports in results:
        for report in reports:
            log.warning("%s", report)
        if status == "uncached":
            mels[utt_id] = detail
            cropped += frames > config.max_frames
            continue
        if status in ("cached", "computed"):
            mel = cache.get(AUDIO_KIND, detail, *mel_layout(config))
            if mel is None:  # removed between the worker and here: compute in place
                _, status, detail, frames, more = _extract_one(utt_id, dict(rows)[utt_id], config, str(cache_root))
                for report in more:
                    log.warning("%s", report)
                mel = (
                    detail
                    if status == "uncached"
                    else cache.get(AUDIO_KIND, detail, *mel_layout(config))
                    if status == "computed"
                    else None
                )
            if mel is not None:
                mels[utt_id] = mel
                cropped += frames > config.max_frames
                continue
        skipped.append({"utt_id": utt_id, "reason": status, "detail": detail})
    statuses = pd.Series([r[1] for r in results]).replace("uncached", "computed").value_counts().to_dict()
    return AudioFeatures(
        mels=mels,
        skipped=pd.DataFrame(skipped, columns=["utt_id", "reason", "detail"]),
        stats={
            "utterances": len(rows),
            "computed": int(statuses.get("computed", 0)),
            "cached": int(statuses.get("cached", 0)),
            "skipped": len(skipped),
            "cropped_to_max_frames": int(cropped),
            "seconds": time.perf_counter() - started,
        },
    )

"""Hand-made clip functionals: openSMILE's eGeMAPSv02 (88 values per clip), the field's standard
feature set for emotion, computed by the ``opensmile`` package (it ships its own binary).

Computed on the same decoded mono 16 kHz signal as the log-mel, once per (file content, settings),
in parallel and cached like the log-mel.

>>> import numpy as np
>>> tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000)).astype(np.float32)
>>> egemaps(tone, 16_000).shape
(88,)
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from vamer.errors import raise_swallowed_stop
from vamer.features.audio import AudioError, decode, read_seconds
from vamer.features.cache import FeatureCache
from vamer.features.config import AudioFeatureConfig
from vamer.progress import tracked

log = logging.getLogger("vamer.features")

FUNCTIONALS_KIND = "audio-egemaps"
EGEMAPS_SIZE = 88


@lru_cache(maxsize=1)
def _smile():
    import opensmile  # imported on first use: it loads a native library

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )


def egemaps(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """eGeMAPSv02 functionals of mono ``samples``, ``[88]`` float32 (non-finite values -> 0)."""
    values = _smile().process_signal(np.asarray(samples, dtype=np.float32), sample_rate).to_numpy()[0]
    raise_swallowed_stop()  # a SIGTERM that arrived inside openSMILE's callbacks
    return np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _one(
    utt_id: str, path: str, config: AudioFeatureConfig, cache_root: str
) -> tuple[str, np.ndarray | None, list[str]]:
    """Runs in a worker: (utt_id, the functionals or None, the cache's warnings for the parent)."""
    reports: list[str] = []
    cache = FeatureCache(cache_root, report=reports.append)
    try:
        data = Path(path).read_bytes()
    except OSError:
        return utt_id, None, reports
    key = cache.key(
        data,
        {
            "kind": FUNCTIONALS_KIND,
            "sample_rate": config.sample_rate,
            "read_seconds": read_seconds(config),
            "version": 2,
        },
    )
    stored = cache.get(FUNCTIONALS_KIND, key, shape=(EGEMAPS_SIZE,), dtype=np.float32)
    if stored is not None:
        return utt_id, stored, reports
    try:
        values = egemaps(decode(data, config.sample_rate, read_seconds(config)), config.sample_rate)
    except AudioError:
        return utt_id, None, reports
    cache.put(FUNCTIONALS_KIND, key, values)
    return utt_id, values, reports


def extract_functionals(
    table: pd.DataFrame,
    config: AudioFeatureConfig,
    cache_root: str | Path,
    jobs: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """eGeMAPS of every utterance of ``table`` (columns utt_id, audio_path), rows in table order,
    ``[n, 88]``, and the ids whose file could not be read now (their rows are zeros; the table holds
    utterances whose audio already decoded for the log-mel, so this means the file changed since)."""
    rows = list(zip(table["utt_id"], table["audio_path"]))
    runner = Parallel(n_jobs=jobs or -1, return_as="generator", batch_size=8)
    results = runner(delayed(_one)(utt_id, path, config, str(cache_root)) for utt_id, path in rows)
    out = np.zeros((len(rows), EGEMAPS_SIZE), dtype=np.float32)
    failed = []
    for index, (utt_id, values, reports) in enumerate(tracked(results, "eGeMAPS", len(rows), quiet=not progress)):
        for report in reports:
            log.warning("%s", report)
        if values is None:
            failed.append(utt_id)
        else:
            out[index] = values
    return out, failed

import numpy as np
import pandas as pd
import pytest

from tests.builders import write_wav
from vamer.features.config import AudioFeatureConfig
from vamer.features.extract import AUDIO_KIND, extract_audio


def table_of(folder, kinds):
    rows = []
    for number, (name, kind) in enumerate(kinds.items()):
        # Different lengths: identical files would share one content-addressed entry.
        write_wav(folder / f"{name}.wav", kind=kind, seconds=1.0 + 0.25 * number)
        rows.append({"utt_id": name, "audio_path": str(folder / f"{name}.wav")})
    return pd.DataFrame(rows)


def test_cache_hits_misses_and_invalidation(tmp_path):
    table = table_of(tmp_path, {"a": "ok", "b": "ok", "c": "corrupt", "d": "missing"})
    cache = tmp_path / "cache"
    config = AudioFeatureConfig()
    first = extract_audio(table, config, cache, jobs=2, progress=False)
    assert first.stats["computed"] == 2 and set(first.mels) == {"a", "b"}
    assert dict(zip(first.skipped["utt_id"], first.skipped["reason"])) == {"c": "unreadable_wav",
                                                                         "d": "unreadable_wav"}
    again = extract_audio(table, config, cache, jobs=1, progress=False)
    assert again.stats["cached"] == 2 and again.stats["computed"] == 0
    np.testing.assert_array_equal(again.mels["a"], first.mels["a"])

    write_wav(tmp_path / "a.wav", seconds=2.0)  # a changed file misses
    changed = extract_audio(table, config, cache, jobs=1, progress=False)
    assert (changed.stats["computed"], changed.stats["cached"]) == (1, 1)
    assert changed.mels["a"].shape[0] > first.mels["a"].shape[0]

    other = extract_audio(table, config.model_copy(update={"n_mels": 64}), cache, jobs=1, progress=False)
    assert other.stats["computed"] == 2 and other.mels["b"].shape[1] == 64  # a changed setting misses

    entries = sorted((cache / AUDIO_KIND).rglob("*.npy"))
    for entry in entries:
        entry.write_bytes(b"garbage")  # corrupt entries are recomputed, not fatal
    healed = extract_audio(table, config, cache, jobs=1, progress=False)
    assert healed.stats["computed"] == 2
    np.testing.assert_array_equal(healed.mels["b"], first.mels["b"])


def test_other_ranks_wait_for_rank_zero_to_build(tmp_path):
    import threading
    import time

    from vamer.errors import VamerError
    from vamer.features.cache import FeatureCache

    cache = FeatureCache(tmp_path)
    with pytest.raises(VamerError, match="waited 0.2 s for rank 0"):
        cache.wait_built("corpus-token", timeout_s=0.2, poll_s=0.05)
    waited = []
    other = threading.Thread(target=lambda: (cache.wait_built("corpus-token", poll_s=0.05),
                                             waited.append(time.monotonic())))
    other.start()
    time.sleep(0.3)
    assert not waited  # still waiting: nothing is built yet
    built_at = time.monotonic()
    cache.mark_built("corpus-token")
    other.join(timeout=5)
    assert waited and waited[0] >= built_at

import numpy as np
import pandas as pd

from tests.builders import write_wav
from vamer.config import AudioFeatureConfig
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

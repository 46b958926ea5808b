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
    assert dict(zip(first.skipped["utt_id"], first.skipped["reason"])) == {"c": "unreadable_wav", "d": "unreadable_wav"}
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
    other = threading.Thread(
        target=lambda: (cache.wait_built("corpus-token", poll_s=0.05), waited.append(time.monotonic()))
    )
    other.start()
    time.sleep(0.3)
    assert not waited  # still waiting: nothing is built yet
    built_at = time.monotonic()
    cache.mark_built("corpus-token")
    other.join(timeout=5)
    assert waited and waited[0] >= built_at


def test_entries_are_checked_on_read_and_recomputed_with_a_report(tmp_path, caplog):
    """A cache entry with infinities, a zeroed block or an edited header shape is reported, deleted
    and recomputed, never used as it is."""
    import hashlib

    from vamer.features.cache import CHECKSUM_BYTES, FeatureCache, entry_bytes

    table = table_of(tmp_path, {"a": "ok", "b": "ok", "c": "ok", "d": "ok", "e": "ok"})
    cache = tmp_path / "cache"
    config = AudioFeatureConfig()
    first = extract_audio(table, config, cache, jobs=1, progress=False)
    store = FeatureCache(cache)

    def entry(name):
        key = store.key(
            (tmp_path / f"{name}.wav").read_bytes(), {"kind": AUDIO_KIND, **config.model_dump(), "version": 2}
        )
        return store.path(AUDIO_KIND, key)

    def resealed(array):  # a damage that keeps its checksum whole: only the checks on content catch it
        return entry_bytes(array)

    raw = bytearray(entry("a").read_bytes())
    raw[200:400] = bytes(200)  # a zeroed block
    entry("a").write_bytes(bytes(raw))
    entry("b").write_bytes(resealed(np.full_like(first.mels["b"], np.inf)))  # infinities
    entry("c").write_bytes(resealed(first.mels["c"][:, :64]))  # another shape
    entry("d").write_bytes(resealed(first.mels["d"].astype(np.float32)))  # another dtype
    payload = entry("e").read_bytes()[:-CHECKSUM_BYTES].replace(b"'shape': (", b"'shape': (1")
    entry("e").write_bytes(payload + hashlib.sha256(payload[:-1]).digest())  # an edited header
    # Two worker processes: their warnings were logged where no terminal saw them.
    with caplog.at_level("WARNING"):
        healed = extract_audio(table, config, cache, jobs=2, progress=False)
    assert healed.stats["computed"] == 5 and healed.stats["cached"] == 0
    for name in "abcde":
        np.testing.assert_array_equal(healed.mels[name], first.mels[name])
    reported = [record.getMessage() for record in caplog.records]
    for name, why in (
        ("a", "checksum"),
        ("b", "NaN or infinite"),
        ("c", "shape ["),
        ("d", "dtype float32"),
        ("e", "checksum"),
    ):
        assert any(str(entry(name)) in line and why in line for line in reported), (name, reported)

    # A folder where an entry belongs was an internal error: it is left alone, and the features are
    # computed without caching them.
    entry("a").unlink()
    entry("a").mkdir()
    caplog.clear()
    with caplog.at_level("WARNING"):
        around = extract_audio(table, config, cache, jobs=2, progress=False)
    np.testing.assert_array_equal(around.mels["a"], first.mels["a"])
    assert entry("a").is_dir() and any("is not a file" in record.getMessage() for record in caplog.records)

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from vamer.errors import VamerError
from vamer.features.speakers import SpeakerStatistics
from vamer.inference.intake import PredictionError
from vamer.inference.profiles import ProfileStore, check_speaker_id, owner_of

MODEL = "ge2e|abc|functionals=none|norm=z"


def _stats(value: float, clips: int = 5) -> SpeakerStatistics:
    return SpeakerStatistics.of(
        np.full((clips, 2, 3), value, np.float32) + np.arange(clips)[:, None, None], np.zeros((clips, 0), np.float32)
    )


def test_profiles_are_saved_listed_used_and_deleted_per_owner(tmp_path):
    store = ProfileStore(tmp_path / "p.sqlite", MODEL)
    assert os.stat(store.path).st_mode & 0o777 == 0o600  # personal data: the owner's only
    mine, theirs = owner_of("key-one-0123456789"), owner_of("key-two-0123456789")
    store.save(mine, "anna", _stats(1.0))
    store.save(theirs, "anna", _stats(50.0, clips=7))
    assert [p["speaker"] for p in store.list(mine)] == ["anna"] and store.list(mine)[0]["clips"] == 5
    assert store.load(mine, "anna", (2, 3), 0).upstream_mean[0, 0] == pytest.approx(3.0)
    assert store.load(theirs, "anna", (2, 3), 0).clips == 7
    assert store.list("") == []
    with pytest.raises(PredictionError) as refused:
        store.load("", "anna", (2, 3), 0)
    assert refused.value.kind == "unknown_speaker"
    assert store.delete(mine, "anna") and not store.delete(mine, "anna")
    assert store.load(theirs, "anna", (2, 3), 0).clips == 7
    # Replacing keeps one profile per owner and id; a reopened file holds it.
    store.save(theirs, "anna", _stats(2.0, clips=9))
    assert ProfileStore(tmp_path / "p.sqlite", MODEL).load(theirs, "anna", (2, 3), 0).clips == 9


@pytest.mark.parametrize("bad", ["", "../etc", "a" * 65, "-lead", "sp ace", "한국"])
def test_malformed_speaker_ids_are_refused_with_a_reason(tmp_path, bad):
    with pytest.raises(PredictionError) as refused:
        check_speaker_id(bad)
    assert refused.value.kind == "bad_speaker"


def test_a_profile_of_another_model_or_a_damaged_one_is_refused(tmp_path):
    path = tmp_path / "p.sqlite"
    ProfileStore(path, "other-model").save("", "anna", _stats(1.0))
    store = ProfileStore(path, MODEL)
    assert store.list("")[0]["usable"] is False
    with pytest.raises(PredictionError, match="another model"):
        store.load("", "anna", (2, 3), 0)
    store.save("", "bob", _stats(1.0))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE profiles SET statistics = ? WHERE speaker = 'bob'", (b"garbage",))
    with pytest.raises(VamerError, match="damaged"):
        store.load("", "bob", (2, 3), 0)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(VamerError, match="profile"):
        ProfileStore(tmp_path / "junk.sqlite", MODEL)


WRITER = """
import sys, numpy as np
from vamer.features.speakers import SpeakerStatistics
from vamer.inference.profiles import ProfileStore
store = ProfileStore(sys.argv[1], "m")
print("ready", flush=True)
i = 0
while True:
    i += 1
    store.save("", "anna", SpeakerStatistics.of(np.full((i % 50 + 5, 7, 256), float(i), np.float32),
                                                np.zeros((i % 50 + 5, 0), np.float32)))
"""


def test_a_writer_killed_mid_enrolment_leaves_a_whole_profile(tmp_path):
    path = tmp_path / "p.sqlite"
    ProfileStore(path, "m").save(
        "", "anna", SpeakerStatistics.of(np.zeros((5, 7, 256), np.float32), np.zeros((5, 0), np.float32))
    )
    for attempt in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.3 + 0.2 * attempt)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        stats = ProfileStore(path, "m").load("", "anna", (7, 256), 0)
        # Old or new, never a mixture: every value of a profile is its own write's.
        assert np.all(stats.upstream_mean == stats.upstream_mean[0, 0]) and stats.clips >= 5

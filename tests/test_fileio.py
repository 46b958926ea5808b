import json

import pytest

from vamer.errors import VamerError
from vamer.fileio import (
    OUTPUT_MARKER,
    atomic_directory,
    check_replaceable,
    output_lock,
    read_output_marker,
    record_written,
    refuse_overwrite,
    write_json_atomic,
)


def test_json_written_whole_and_no_temp_left(tmp_path):
    target = tmp_path / "deep" / "out.json"
    write_json_atomic(target, {"a": "한국어"})
    assert target.read_text(encoding="utf-8") == '{\n  "a": "한국어"\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_failed_directory_build_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_directory(target, "run") as scratch:
            (scratch / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def _earlier_output(folder, command="run"):
    with atomic_directory(folder, command) as scratch:
        (scratch / "metrics.json").write_text("{}")
        (scratch / "bundle").mkdir()
        (scratch / "bundle" / "model.pt").write_text("weights")
        (scratch / "logs").mkdir()  # an empty folder vamer made is still vamer's


def test_marker_names_the_command_and_everything_written(tmp_path):
    _earlier_output(tmp_path / "run")
    marker = read_output_marker(tmp_path / "run")
    assert marker["command"] == "run"
    assert marker["files"] == ["bundle", "bundle/model.pt", "logs", "metrics.json"]


def test_force_replaces_only_an_earlier_output_of_the_same_command(tmp_path):
    target = tmp_path / "out"
    _earlier_output(target)
    with pytest.raises(VamerError, match="--force"):
        with atomic_directory(target, "run") as scratch:
            (scratch / "new.txt").write_text("new")
    assert (target / "metrics.json").exists()
    with atomic_directory(target, "run", force=True) as scratch:
        (scratch / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARKER, "new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_users_folder_that_looks_like_an_output_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("my own numbers")
    with pytest.raises(VamerError, match="not written by vamer") as refused:
        check_replaceable(mine, True, "run")
    assert "--force" not in str(refused.value)  # no advice to force it
    with pytest.raises(VamerError):
        with atomic_directory(mine, "baseline", force=True) as scratch:
            (scratch / "metrics.json").write_text("{}")
    assert (mine / "metrics.json").read_text() == "my own numbers"


def test_force_does_not_cross_commands(tmp_path):
    run = tmp_path / "run"
    _earlier_output(run, "run")
    with pytest.raises(VamerError, match="written by `vamer run`, not `vamer baseline`"):
        check_replaceable(run, True, "baseline")
    assert (run / "bundle" / "model.pt").exists()


def test_force_never_deletes_files_the_user_added(tmp_path):
    run = tmp_path / "run"
    _earlier_output(run)
    (run / "bundle" / "my-notes.txt").write_text("keep me")
    (run / "paper-figures").mkdir()
    with pytest.raises(VamerError, match="bundle/my-notes.txt, paper-figures"):
        check_replaceable(run, True, "run")
    with pytest.raises(VamerError):
        with atomic_directory(run, "run", force=True) as scratch:
            (scratch / "metrics.json").write_text("{}")
    assert (run / "bundle" / "my-notes.txt").read_text() == "keep me"


def test_files_vamer_writes_later_into_an_output_join_it(tmp_path):
    run = tmp_path / "run"
    _earlier_output(run)
    write_json_atomic(run / "bundle" / "onnx" / "model.onnx", {})
    record_written(run / "bundle" / "onnx" / "model.onnx")
    assert {"bundle/onnx", "bundle/onnx/model.onnx"} <= set(read_output_marker(run)["files"])
    check_replaceable(run, True, "run")  # no foreign files now
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("x")
    record_written(outside)  # no marker above it: nothing to record, nothing fails
    assert json.loads((run / OUTPUT_MARKER).read_text())["command"] == "run"


def test_refuse_overwrite(tmp_path):
    path = tmp_path / "x"
    refuse_overwrite(path, force=False)
    path.write_text("mine")
    with pytest.raises(VamerError, match="--force"):
        refuse_overwrite(path, force=False)
    refuse_overwrite(path, force=True)


def test_refuse_overwrite_checks_the_path_can_hold_a_file(tmp_path):
    with pytest.raises(VamerError, match="is a folder"):
        refuse_overwrite(tmp_path, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(VamerError, match="is a file, not a folder"):
        refuse_overwrite(tmp_path / "file" / "deeper" / "out.csv", force=True)


def test_scratch_a_kill_left_is_recognised_reported_and_cleaned(tmp_path, caplog):
    """A kill -9 left `.OUT.xxxx.partial` beside the output and `bundle/.export-xxxx/` inside it for
    ever; the latter made `run --out X --force` refuse ("holds files vamer did not write")."""
    import fcntl
    import os

    from vamer.fileio import lock_path, output_lock

    target = tmp_path / "run"
    with atomic_directory(target, "run") as scratch:
        (scratch / "bundle").mkdir()
        (scratch / "bundle" / "fusion.safetensors").write_text("w")
    (target / "bundle" / ".export-k2j4").mkdir()  # vamer 0.3's export scratch
    (target / "bundle" / ".model.onnx.export").mkdir()  # this vamer's
    (target / "bundle" / ".model.onnx.lock").write_text("pid 1")  # a lock nobody holds
    beside = [tmp_path / ".run.x1y2.partial", tmp_path / ".run.a9b8.old", tmp_path / ".run.lock"]
    for path in beside[:2]:
        path.mkdir()
    beside[2].write_text("pid 1")
    mine = tmp_path / ".run.notes"  # not a vamer scratch name
    mine.write_text("mine")
    with caplog.at_level("WARNING", logger="vamer.fileio"):
        with atomic_directory(target, "run", force=True) as scratch:
            (scratch / "bundle").mkdir()
    assert not any(path.exists() for path in beside[:2]) and mine.read_text() == "mine"
    assert sorted(p.name for p in (target / "bundle").iterdir()) == []
    for name in (".run.x1y2.partial", ".run.a9b8.old", ".export-k2j4", ".model.onnx.export"):
        assert name in caplog.text

    # A lock a live process holds is not stale: the folder is refused, not cleaned.
    (target / "bundle" / ".model.onnx.lock").write_text("pid 2")
    held = os.open(target / "bundle" / ".model.onnx.lock", os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with pytest.raises(VamerError, match="another vamer is writing inside"):
            check_replaceable(target, True, "run")
    finally:
        os.close(held)
    with output_lock(target):
        assert lock_path(target).read_text().startswith(f"pid {os.getpid()}")
        with pytest.raises(VamerError, match="is being written by another vamer"):
            with output_lock(target):
                pass
    assert not lock_path(target).exists()


def test_outputs_follow_the_umask(tmp_path):
    """Bundles and outputs were 0600/0700 (tempfile's modes): a service user or a colleague could not
    read them."""
    import os
    import stat

    import numpy as np

    from vamer.features.cache import FeatureCache

    old = os.umask(0o022)
    try:
        target = tmp_path / "out"
        with atomic_directory(target, "demo") as scratch:
            (scratch / "a.txt").write_text("a")
        write_json_atomic(tmp_path / "m.json", {})
        cache = FeatureCache(tmp_path / "cache")
        cache.put("audio", "ab" * 32, np.zeros(3, dtype=np.float16))
        modes = {
            path.name: stat.S_IMODE(path.stat().st_mode)
            for path in (target, target / "a.txt", tmp_path / "m.json", cache.path("audio", "ab" * 32))
        }
    finally:
        os.umask(old)
    assert modes == {"out": 0o755, "a.txt": 0o644, "m.json": 0o644, f"{'ab' * 32}.v2.npy": 0o644}


def test_a_link_planted_as_a_lock_or_as_scratch_is_refused_and_its_target_kept(tmp_path):
    """``ln -s notes.txt .demo2.lock`` made the next command overwrite notes.txt with its lock text."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    (tmp_path / ".out.lock").symlink_to(notes)
    with pytest.raises(VamerError, match="symbolic link"):
        with output_lock(tmp_path / "out"):
            pass
    assert notes.read_text() == "my notes" and (tmp_path / ".out.lock").is_symlink()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".run.partial").symlink_to(elsewhere)
    with pytest.raises(VamerError, match="symbolic link"):
        with atomic_directory(tmp_path / "run", "run", resumable=True) as scratch:
            (scratch / "a.txt").write_text("a")
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "run").exists()

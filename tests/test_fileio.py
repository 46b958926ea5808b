import pytest

from vamer.errors import VamerError
from vamer.fileio import atomic_directory, refuse_overwrite, write_json_atomic


def test_json_written_whole_and_no_temp_left(tmp_path):
    target = tmp_path / "deep" / "out.json"
    write_json_atomic(target, {"a": "한국어"})
    assert target.read_text(encoding="utf-8") == '{\n  "a": "한국어"\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_failed_directory_build_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as scratch:
            (scratch / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_directory_replaced_only_when_allowed(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(VamerError):
        with atomic_directory(target) as scratch:
            (scratch / "new.txt").write_text("new")
    assert (target / "old.txt").exists()
    with atomic_directory(target, replace=True) as scratch:
        (scratch / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_refuse_overwrite(tmp_path):
    path = tmp_path / "x"
    refuse_overwrite(path, force=False)
    path.write_text("mine")
    with pytest.raises(VamerError, match="--force"):
        refuse_overwrite(path, force=False)
    refuse_overwrite(path, force=True)

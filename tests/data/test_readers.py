import pytest

from tests.builders import Kemdy20Builder, Segment, kemdy19_row, write_kemdy19
from vamer.data import load
from vamer.data.readers import detect_format
from vamer.errors import NotADatasetError


def kemdy20(root):
    builder = Kemdy20Builder(root)
    builder.add(1, Segment("Sess01_script01_User001F_001"))
    return builder.write()


def test_detects_kemdy20_kemdy19_and_a_parent_folder(tmp_path):
    k20 = kemdy20(tmp_path / "KEMDy20_v1_1")
    assert detect_format(k20) == (k20, "kemdy20")
    assert detect_format(tmp_path) == (k20, "kemdy20")
    k19 = write_kemdy19(tmp_path / "KEMDy19", {"Session01_F_res.csv": [kemdy19_row(1, "Sess01_impro01_F001")]})
    assert detect_format(k19) == (k19, "kemdy19")
    with pytest.raises(NotADatasetError, match="several datasets"):
        detect_format(tmp_path)


@pytest.mark.parametrize("setup", ["missing", "empty", "wrong_format", "not_manifest_dir"])
def test_paths_that_are_not_datasets(tmp_path, setup):
    if setup == "missing":
        path, kwargs = tmp_path / "nope", {}
    elif setup == "empty":
        path, kwargs = tmp_path, {}
    elif setup == "wrong_format":
        path, kwargs = kemdy20(tmp_path / "k"), {"format": "yaml"}
    else:
        path, kwargs = kemdy20(tmp_path / "k"), {"format": "manifest"}
    with pytest.raises(NotADatasetError):
        load(path, **kwargs)


def test_explicit_format_that_does_not_match_is_a_clear_error(tmp_path):
    root = kemdy20(tmp_path / "k")
    with pytest.raises(Exception, match="not a KEMDy19 folder"):
        load(root, format="kemdy19")


@pytest.mark.espeak
def test_the_load_result_says_whether_the_corpus_is_the_synthetic_demo(tmp_path, demo_corpus):
    """Four places searched the dataset's display name for "synthetic"."""
    from tests.builders import write_wav
    from vamer.data.readers import load

    assert load(demo_corpus).synthetic is True
    write_wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("audio,emotion\na.wav,happy\n")
    assert load(tmp_path / "m.csv").synthetic is False

import math

import pandas as pd
import pytest

from tests.builders import write_text, write_wav
from vamer.data import load
from vamer.errors import NotADatasetError, VamerError


@pytest.fixture
def corpus(tmp_path):
    write_wav(tmp_path / "clips" / "a.wav")
    write_wav(tmp_path / "clips" / "b.wav")
    write_text(tmp_path / "clips" / "b.txt", "n/ 옆 파일의 글", encoding="cp949")
    write_wav(tmp_path / "elsewhere" / "c.wav")
    write_wav(tmp_path / "clips" / "d.wav", kind="corrupt")
    return tmp_path


def manifest_rows(root):
    return [
        {
            "audio": "clips/a.wav",
            "text": "안녕",
            "emotion": "Happy",
            "arousal": "4",
            "valence": "4.5",
            "speaker": "s1",
            "session": "A",
        },
        {
            "audio": "clips/b.wav",
            "text": "",
            "emotion": "sad",
            "arousal": "",
            "valence": "",
            "speaker": "s2",
            "session": "A",
        },
        {
            "audio": str(root / "elsewhere" / "c.wav"),
            "text": "절대 경로",
            "emotion": "angry",
            "arousal": "",
            "valence": "",
            "speaker": "",
            "session": "",
        },
        {
            "audio": "clips/d.wav",
            "text": "x",
            "emotion": "neutral",
            "arousal": "",
            "valence": "",
            "speaker": "",
            "session": "",
        },
        {
            "audio": "clips/missing.wav",
            "text": "x",
            "emotion": "neutral",
            "arousal": "",
            "valence": "",
            "speaker": "",
            "session": "",
        },
        {
            "audio": "clips/a.wav",
            "text": "again",
            "emotion": "neutral",
            "arousal": "",
            "valence": "",
            "speaker": "",
            "session": "",
        },
        {
            "audio": "clips/b.wav",
            "text": "y",
            "emotion": "fear",
            "arousal": "",
            "valence": "",
            "speaker": "",
            "session": "",
            "utt_id": "other-id",
        },
        {"audio": "", "text": "y", "emotion": "sad", "arousal": "", "valence": "", "speaker": "", "session": ""},
        {
            "audio": "clips/b.wav",
            "text": "y",
            "emotion": "sad",
            "arousal": "9",
            "valence": "",
            "speaker": "",
            "session": "",
            "utt_id": "bad-rating",
        },
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manifest_rows_kept_or_skipped(corpus, suffix):
    frame = pd.DataFrame(manifest_rows(corpus))
    path = corpus / f"manifest{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    result = load(path, classes=["neutral", "happy", "surprise", "angry", "sad"])
    assert result.format == "manifest"
    kept = result.utterances.set_index("utt_id")
    assert list(kept.index) == ["clips/a", "clips/b", "c"]
    assert kept.loc["clips/a", "emotion"] == "happy"
    assert (kept.loc["clips/a", "arousal"], kept.loc["clips/a", "valence"]) == (4.0, 4.5)
    assert kept.loc["clips/b", "text"] == "옆 파일의 글"  # from the .txt beside the wav
    assert math.isnan(kept.loc["clips/b", "arousal"])
    assert kept.loc["clips/a", "speaker"] == "s1" and pd.isna(kept.loc["c", "speaker"])
    assert kept.loc["c", "audio_path"] == str((corpus / "elsewhere" / "c.wav").resolve())
    skipped = dict(zip(result.skipped["utt_id"], result.skipped["reason"]))
    assert skipped == {
        "clips/d": "unreadable_wav",
        "clips/missing": "missing_wav",
        "clips/a": "duplicate_id",
        "other-id": "out_of_class",
        "": "missing_wav",
        "bad-rating": "invalid_ratings",
    }
    assert result.source_rows == len(frame)
    if suffix == ".csv":
        assert result.skipped.iloc[0]["source"] == "manifest.csv:5"


def test_manifest_without_text_column_uses_txt_or_keeps_empty(corpus):
    path = corpus / "m.csv"
    pd.DataFrame({"audio": ["clips/a.wav", "clips/b.wav"], "emotion": ["neutral", "sad"]}).to_csv(path, index=False)
    texts = load(path).utterances.set_index("utt_id")["text"]
    assert texts.to_dict() == {"clips/a": "", "clips/b": "옆 파일의 글"}


def test_a_manifest_says_where_each_text_came_from(corpus):
    path = corpus / "m.csv"
    pd.DataFrame(
        {
            "audio": ["clips/a.wav", "clips/b.wav", "elsewhere/c.wav", "clips/a.wav"],
            "text": ["들린 말", "", "주어진 말", "x"],
            "text_source": ["ASR", "", "", "guessed"],
            "utt_id": ["a", "b", "c", "d"],
            "emotion": ["neutral"] * 4,
        }
    ).to_csv(path, index=False)
    result = load(path)
    sources = result.utterances.set_index("utt_id")["text_source"].to_dict()
    # b's text is its .txt (given); c's cell is empty, so given; an unknown source is a skip.
    assert sources == {"a": "asr", "b": "given", "c": "given"}
    assert dict(zip(result.skipped["utt_id"], result.skipped["reason"])) == {"d": "bad_text_source"}
    pd.DataFrame({"audio": ["clips/a.wav"], "emotion": ["sad"]}).to_csv(path, index=False)
    assert list(load(path).utterances["text_source"]) == ["none"]


def test_manifest_missing_columns_and_wrong_files(corpus):
    path = corpus / "m.csv"
    pd.DataFrame({"path": ["clips/a.wav"], "label": ["sad"]}).to_csv(path, index=False)
    with pytest.raises(VamerError, match="lacks column.*audio, emotion"):
        load(path)
    (corpus / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(VamerError, match="cannot read manifest"):
        load(corpus / "broken.parquet")
    (corpus / "notes.txt").write_text("hello")
    with pytest.raises(NotADatasetError):
        load(corpus / "notes.txt")


def test_a_manifest_s_class_set_is_the_labels_it_holds(corpus):
    """Any spelling the user chose is a class (boredom, calm, ...), most frequent first; KEMDy's
    aliases still map to one spelling; a chosen class without examples is a clear error."""
    path = corpus / "m.csv"
    pd.DataFrame(
        {
            "audio": ["clips/a.wav", "clips/b.wav", "elsewhere/c.wav"],
            "emotion": ["Boredom", "boredom", "anger"],
            "utt_id": ["u1", "u2", "u3"],
        }
    ).to_csv(path, index=False)
    result = load(path)
    assert result.classes == ["boredom", "angry"]
    assert list(result.utterances["emotion"]) == ["boredom", "boredom", "angry"]
    assert result.skipped.empty
    picked = load(path, classes=["angry", "boredom"])
    assert picked.classes == ["angry", "boredom"]
    chosen = load(path, classes=["angry", "boredom", "calm"])
    from vamer.features.store import check_classes

    with pytest.raises(VamerError, match=r"class\(es\) calm have no usable utterance \(kept: boredom 2, angry 1\)"):
        check_classes(chosen.utterances, chosen.classes)


def test_manifest_rows_with_surplus_fields_or_bad_quotes_are_skipped_not_shifted(corpus):
    path = corpus / "m.csv"
    path.write_text(
        "audio,emotion,text\n"
        "clips/a.wav,sad,안녕\n"
        "clips/b.wav,happy,one,two\n"  # a comma too many: not shifted into the wrong columns
        'elsewhere/c.wav,angry,"a quoted\n'
        'line break"\n'  # a quoted field may span lines
        'clips/d.wav,sad,"oops\n',
        encoding="utf-8",
    )  # a quote never closed
    result = load(path)
    assert list(result.utterances["utt_id"]) == ["clips/a", "elsewhere/c"]
    assert result.utterances.set_index("utt_id").loc["elsewhere/c", "text_raw"] == "a quoted\nline break"
    skipped = result.skipped.set_index("source")
    assert skipped.loc["m.csv:3", "reason"] == "malformed_row"
    assert skipped.loc["m.csv:3", "detail"] == "4 fields, the header has 3"
    assert skipped.loc["m.csv:6", "reason"] == "unreadable_row"
    assert result.source_rows == 4 and result.unaccounted == 0


def test_every_manifest_column_keeps_its_cells_when_all_rows_have_one_field_too_many(corpus):
    """pandas reads such a file with the first column as the index, shifting every cell."""
    path = corpus / "m.csv"
    path.write_text("audio,emotion\nclips/a.wav,sad,x\nclips/b.wav,happy,y\n", encoding="utf-8")
    result = load(path)
    assert result.utterances.empty
    assert list(result.skipped["reason"]) == ["malformed_row", "malformed_row"]


def test_hostile_audio_paths_are_skipped_with_reasons(corpus):
    path = corpus / "m.csv"
    names = [".", "/", "x" * 300 + ".wav", "..", "~/x.wav", "clips"]
    path.write_text("audio,emotion\n" + "".join(f"{name},sad\n" for name in names), encoding="utf-8")
    result = load(path)
    assert result.utterances.empty and result.unaccounted == 0
    reasons = dict(zip(result.skipped["source"], result.skipped["reason"]))
    assert reasons["m.csv:4"] == "unreadable_wav"  # a name the file system refuses
    assert {reasons[f"m.csv:{line}"] for line in (2, 3, 5, 6, 7)} == {"missing_wav"}
    assert "is not a regular file" in result.skipped.set_index("source").loc["m.csv:7", "detail"]


def test_data_check_shows_names_that_look_like_markup_as_they_are(corpus):
    """Rich read `[/b]` in a name as a closing tag (an internal MarkupError) and dropped `[draft]`."""
    from typer.testing import CliRunner

    from vamer.cli import app

    folder = corpus / "[draft] take"
    write_wav(folder / "a[red].wav")
    rows = [
        {"audio": "a[red].wav", "text": "안녕", "emotion": "happy", "speaker": "s[/b]1", "session": "[draft]"},
        {"audio": "gone[/i].wav", "text": "x", "emotion": "sad", "speaker": "s2", "session": "A"},
    ]
    pd.DataFrame(rows).to_csv(folder / "m.csv", index=False)
    result = CliRunner().invoke(app, ["data", "check", str(folder / "m.csv")])
    assert result.exit_code == 0, result.output
    assert "s[/b]1" in result.output and "[draft]" in result.output and "gone[/i].wav" in result.output

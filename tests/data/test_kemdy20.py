import json

import pandas as pd
import pytest

from tests.builders import Kemdy20Builder, Segment, write_wav
from vamer.data import UTTERANCE_COLUMNS, load
from vamer.reasons import Reason


def build(tmp_path, *segments_by_session, swapped=()):
    builder = Kemdy20Builder(tmp_path / "KEMDy20_v1_1")
    builder.swapped_header.update(swapped)
    for session, segment in segments_by_session:
        builder.add(session, segment)
    return builder


def reasons(result):
    return dict(zip(result.skipped["utt_id"], result.skipped["reason"]))


def test_clean_row_has_every_documented_column_and_right_values(tmp_path):
    builder = build(
        tmp_path,
        (
            1,
            Segment(
                "Sess01_script01_User002M_001", valence="4.5", arousal="1.5", votes=("neutral", "happy", "neutral")
            ),
        ),
    )
    result = load(builder.write())
    row = result.utterances.iloc[0]
    assert list(result.utterances.columns) == list(UTTERANCE_COLUMNS)
    assert result.format == "kemdy20" and row["dataset"] == "KEMDy20"
    # Column 5 is valence and column 6 arousal (one public loader swapped them).
    assert (row["valence"], row["arousal"]) == (4.5, 1.5)
    assert (row["session"], row["speaker"], row["gender"], row["script"]) == ("Sess01", "User002M", "M", "script01")
    assert (row["start_s"], row["end_s"]) == (1.5, 3.25)
    assert row["text_raw"] == "n/ 아 친구들도? l/" and row["text"] == "아 친구들도?"
    assert json.loads(row["emotion_votes"]) == {"neutral": 2, "happy": 1}
    assert row["sample_rate"] == 16000 and row["channels"] == 1 and row["duration_s"] == pytest.approx(0.5)
    assert row["source"] == "annotation/Sess01_eval.csv:3"
    assert result.skipped.empty


def test_header_names_decide_valence_and_arousal_columns(tmp_path):
    builder = build(tmp_path, (2, Segment("Sess02_script01_User003F_001", valence="4.0", arousal="2.0")), swapped={2})
    row = load(builder.write()).utterances.iloc[0]
    assert (row["valence"], row["arousal"]) == (4.0, 2.0)


def test_multi_label_disqust_and_policies(tmp_path):
    builder = build(
        tmp_path,
        (1, Segment("Sess01_script01_User001F_001", emotion="happy;neutral")),
        (1, Segment("Sess01_script01_User001F_002", emotion="disqust")),
        (1, Segment("Sess01_script01_User001F_003", emotion="happy;disqust")),
        (1, Segment("Sess01_script01_User001F_004", emotion="bored")),
        (1, Segment("Sess01_script01_User001F_005", emotion="")),
    )
    root = builder.write()
    default = load(root)
    assert reasons(default) == {
        "Sess01_script01_User001F_001": "multi_label",
        "Sess01_script01_User001F_002": "out_of_class",
        "Sess01_script01_User001F_003": "multi_label",
        "Sess01_script01_User001F_004": "unknown_label",
        "Sess01_script01_User001F_005": "unknown_label",
    }
    first = load(root, multi_label="first").utterances.set_index("utt_id")["emotion"]
    assert first["Sess01_script01_User001F_001"] == "happy"
    assert first["Sess01_script01_User001F_003"] == "happy"
    unique = load(root, multi_label="unique_in_class").utterances.set_index("utt_id")["emotion"]
    assert "Sess01_script01_User001F_001" not in unique  # both in the class set: still ambiguous
    assert unique["Sess01_script01_User001F_003"] == "happy"
    seven = load(root, classes=["neutral", "happy", "surprise", "angry", "sad", "disgust", "fear"])
    kept = seven.utterances.set_index("utt_id")
    assert kept.loc["Sess01_script01_User001F_002", "emotion"] == "disgust"
    assert kept.loc["Sess01_script01_User001F_002", "emotion_raw"] == "disqust"


def test_sess42_ids_in_sess17_belong_to_session_17(tmp_path):
    builder = build(
        tmp_path,
        (17, Segment("Sess17_script01_User033F_001")),
        (17, Segment("Sess42_script06_User084F_001")),
        (17, Segment("Sess42_script06_User084F_002", wav_folder="Session42")),
    )
    utterances = load(builder.write()).utterances.set_index("utt_id")
    assert set(utterances.index) == {
        "Sess17_script01_User033F_001",
        "Sess42_script06_User084F_001",
        "Sess42_script06_User084F_002",
    }
    assert set(utterances["session"]) == {"Sess17"}
    assert utterances.loc["Sess42_script06_User084F_001", "audio_path"].endswith(
        "wav/Session17/Sess42_script06_User084F_001.wav"
    )


def test_every_fault_is_skipped_with_its_reason_and_every_row_accounted(tmp_path):
    builder = build(
        tmp_path,
        (1, Segment("Sess01_script01_User001F_001")),
        (1, Segment("Sess01_script01_User001F_002", wav="missing")),
        (1, Segment("Sess01_script01_User001F_003", wav="corrupt")),
        (1, Segment("Sess01_script01_User001F_004", wav="empty")),
        (1, Segment("Sess01_script01_User001F_005", text=None)),
        (1, Segment("Sess01_script01_User001F_006", encoding="bad")),
        (1, Segment("Sess01_script01_User001F_007", valence="")),
        (1, Segment("Sess01_script01_User001F_008", arousal="abc")),
        (1, Segment("Sess01_script01_User001F_009", arousal="7")),
        (1, Segment("Sess01_script01_User001F_001")),
        (1, Segment("Sess01_scriptXX_User001F_010")),
        (1, Segment("Sess01_script01_User001F_011", emotion="sad", text="b/ l/")),
    )
    builder.add(1, Segment("Sess01_script01_User001F_013", wav="truncated"))
    builder.add_raw(1, ["14", "0.1", "0.2", "Sess01_script01_User001F_012"])
    result = load(builder.write())
    assert reasons(result) == {
        "Sess01_script01_User001F_002": Reason.missing_wav,
        "Sess01_script01_User001F_003": Reason.unreadable_wav,
        "Sess01_script01_User001F_004": Reason.empty_wav,
        "Sess01_script01_User001F_005": Reason.missing_transcript,
        "Sess01_script01_User001F_006": Reason.undecodable_transcript,
        "Sess01_script01_User001F_007": Reason.missing_ratings,
        "Sess01_script01_User001F_008": Reason.invalid_ratings,
        "Sess01_script01_User001F_009": Reason.invalid_ratings,
        "Sess01_script01_User001F_001": Reason.duplicate_id,
        "Sess01_scriptXX_User001F_010": Reason.bad_segment_id,
        "Sess01_script01_User001F_012": Reason.malformed_row,
        "Sess01_script01_User001F_013": Reason.unreadable_wav,
    }
    assert result.source_rows == 14
    assert list(result.utterances["utt_id"]) == ["Sess01_script01_User001F_001", "Sess01_script01_User001F_011"]
    # A transcript of tags only is kept with empty text: the audio is still usable.
    assert result.utterances.iloc[1]["text"] == ""
    assert result.skipped["detail"].str.len().min() > 0


def test_non_16k_and_stereo_are_kept_and_reported_from_the_header(tmp_path):
    builder = build(tmp_path, (1, Segment("Sess01_script01_User001F_001")))
    root = builder.write()
    write_wav(root / "wav" / "Session01" / "Sess01_script01_User001F_001.wav", rate=44_100, channels=2, seconds=1.0)
    row = load(root).utterances.iloc[0]
    assert (row["sample_rate"], row["channels"], row["duration_s"]) == (44_100, 2, pytest.approx(1.0))


def test_unreadable_header_skips_the_file_rows(tmp_path):
    builder = build(tmp_path, (1, Segment("Sess01_script01_User001F_001")))
    root = builder.write()
    path = root / "annotation" / "Sess01_eval.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(["Numb,Whatever,Else", *lines[1:]]) + "\n", encoding="utf-8")
    result = load(root)
    assert result.utterances.empty
    assert list(result.skipped["reason"]) == ["malformed_row"]
    assert "Segment ID" in result.skipped.iloc[0]["detail"]


def write_bio(root):
    eda = root / "EDA" / "Session01" / "Sess01_script01_User001F.csv"
    eda.parent.mkdir(parents=True)
    eda.write_text(
        "1598008140.000000\n4.000000\n"
        "1.0,2020-0821-1109-00-000\n"
        "1.5,2020-0821-1109-00-250,Sess01_script01_User001F_001\n"
        "oops,2020-0821-1109-00-500,Sess01_script01_User001F_001\n"
        "2.0,2020-0821-1109-00-750,Sess01_script01_User001F_001\n",
        encoding="utf-8",
    )
    ibi = root / "IBI" / "Session01" / "Sess01_script01_User001F.csv"
    ibi.parent.mkdir(parents=True)
    ibi.write_text(
        "1598008140.000000, IBI\n"
        "1.250000,0.810000,2020-0821-1109-01-250\n"
        "2.000000,0.750000,2020-0821-1109-02-000,Sess01_script01_User001F_001\n",
        encoding="utf-8",
    )
    temp = root / "TEMP" / "Session01" / "Sess01_script01_User001F.csv"
    temp.parent.mkdir(parents=True)
    temp.write_text("header only\n", encoding="utf-8")


def test_bio_rows_with_and_without_segment_and_ibi_layout(tmp_path):
    builder = build(tmp_path, (1, Segment("Sess01_script01_User001F_001")))
    root = builder.write()
    write_bio(root)
    result = load(root)
    bio = result.bio
    eda = bio[bio["signal"] == "EDA"].reset_index(drop=True)
    assert list(eda["value"]) == [1.0, 1.5, 2.0]
    assert eda["utt_id"].isna().tolist() == [True, False, False]
    assert list(eda["t"]) == [0.0, 0.25, 0.75]
    assert set(eda["speaker"]) == {"User001F"} and set(eda["session"]) == {"Sess01"}
    assert set(eda["recording"]) == {"Sess01_script01_User001F"}
    ibi = bio[bio["signal"] == "IBI"].reset_index(drop=True)
    assert list(ibi["value"]) == [0.81, 0.75]
    assert ibi.loc[1, "utt_id"] == "Sess01_script01_User001F_001"
    assert ibi.loc[0, "timestamp"] == pd.Timestamp("2020-08-21 11:09:01.250")
    issues = result.bio_issues.set_index("signal")
    assert issues.loc["EDA", "rows"] == 1
    assert issues.loc["TEMP", "reason"] == "no timestamped rows"


def test_bio_can_be_turned_off(tmp_path):
    builder = build(tmp_path, (1, Segment("Sess01_script01_User001F_001")))
    root = builder.write()
    write_bio(root)
    assert load(root, read_bio=False).bio is None


def _lines_of(path):
    return path.read_bytes().decode("utf-8").split("\n")


def test_faults_in_the_annotation_text_cost_only_their_own_lines(tmp_path):
    ids = [f"Sess01_script01_User001F_{n:03d}" for n in range(1, 8)]
    builder = build(tmp_path, *[(1, Segment(utt_id)) for utt_id in ids])
    root = builder.write()
    path = root / "annotation" / "Sess01_eval.csv"
    lines = _lines_of(path)  # two header lines, then ids[0..6] on lines 3..9
    lines[3] = lines[3].replace("Sess01_script01_User001F_002", '"Sess01_script01_User001F_002', 1)  # never closed
    lines[5] = lines[5] + "," + "x" * 200_000  # a field over the csv module's limit
    lines[7] = lines[7].replace(",neutral,", ",neu\rtral,", 1)  # a bare carriage return mid-row
    path.write_bytes("\n".join(lines).encode("utf-8"))
    result = load(root, read_bio=False)
    kept = set(result.utterances["utt_id"])
    assert kept == {ids[0], ids[2], ids[4], ids[6]}  # the rows after each fault are still read
    by_source = dict(zip(result.skipped["source"], result.skipped["reason"]))
    assert by_source["annotation/Sess01_eval.csv:4"] == "unreadable_row"
    assert by_source["annotation/Sess01_eval.csv:6"] == "unreadable_row"
    # The bare CR splits its row in two physical lines, both reported.
    assert by_source["annotation/Sess01_eval.csv:8"] == "malformed_row"
    assert by_source["annotation/Sess01_eval.csv:9"] in {"malformed_row", "bad_segment_id"}
    assert "unbalanced quote" in result.skipped.set_index("source").loc["annotation/Sess01_eval.csv:4", "detail"]
    assert result.source_rows == 8 and result.unaccounted == 0
    assert len(result.utterances) + len(result.skipped) == result.source_rows


def test_upper_case_suffix_is_read_and_other_names_are_noted(tmp_path):
    builder = build(
        tmp_path, (1, Segment("Sess01_script01_User001F_001")), (2, Segment("Sess02_script01_User003F_001"))
    )
    root = builder.write()
    (root / "annotation" / "Sess02_eval.csv").rename(root / "annotation" / "Sess02_eval.CSV")
    (root / "annotation" / "Sess01_eval (copy).csv").write_text("x\n")
    result = load(root, read_bio=False)
    assert set(result.utterances["session"]) == {"Sess01", "Sess02"}
    assert len(result.notes) == 1 and "Sess01_eval (copy).csv" in result.notes[0] and "not read" in result.notes[0]
    assert result.source_rows == 2 and result.unaccounted == 0


def test_an_annotation_in_no_known_encoding_is_skipped_line_by_line(tmp_path):
    builder = build(
        tmp_path, (1, Segment("Sess01_script01_User001F_001")), (2, Segment("Sess02_script01_User003F_001"))
    )
    root = builder.write()
    path = root / "annotation" / "Sess02_eval.csv"
    path.write_bytes(path.read_bytes() + b"\xff\xfe\xfa,broken\n")
    result = load(root, read_bio=False)
    assert list(result.utterances["session"]) == ["Sess01"]
    assert set(result.skipped["reason"]) == {"malformed_row"}
    assert result.skipped["detail"].str.contains("neither UTF-8 nor cp949").all()
    assert result.source_rows == 3 and result.unaccounted == 0

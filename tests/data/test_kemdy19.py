from tests.builders import kemdy19_row, write_kemdy19, write_text, write_wav
from vamer.data import load


def wav_of(root, utt_id):
    session, script, _ = utt_id.split("_")
    return root / "wav" / f"Session{session[4:]}" / f"{session}_{script}" / f"{utt_id}.wav"


def test_each_gender_file_keeps_its_own_rows_nested_wavs_utf8_text(tmp_path):
    root = tmp_path / "KEMDy19"
    ids = ["Sess01_impro01_F001", "Sess01_impro01_M001", "Sess01_script02_F001"]
    for utt_id in ids:
        write_wav(wav_of(root, utt_id))
        write_text(wav_of(root, utt_id).with_suffix(".txt"), "c/ 안녕하세요 반가워요", encoding="utf-8")
    write_kemdy19(
        root,
        {
            "Session01_F_res.csv": [
                kemdy19_row(1, ids[0], "happy", "4.2", "3.1"),
                kemdy19_row(2, ids[1]),
                kemdy19_row(3, ids[2], "sad"),
            ],
            "Session01_M_res.csv": [
                kemdy19_row(1, ids[0]),
                kemdy19_row(2, ids[1], "angry", "1.5", "4.5"),
                kemdy19_row(3, ids[2]),
            ],
        },
    )
    ecg = root / "ECG" / "Session01" / "Sess01_impro01_F.csv"
    ecg.parent.mkdir(parents=True)
    ecg.write_text("ECG\n512.0,2019-0101-1000-00-000,Sess01_impro01_F001\n", encoding="utf-8")

    result = load(root)
    assert result.format == "kemdy19"
    kept = result.utterances.set_index("utt_id")
    assert set(kept.index) == set(ids)
    assert kept.loc[ids[0], "emotion"] == "happy" and kept.loc[ids[0], "valence"] == 4.2
    assert kept.loc[ids[1], "emotion"] == "angry" and kept.loc[ids[1], "arousal"] == 4.5
    assert kept.loc[ids[1], "speaker"] == "Sess01_M" and kept.loc[ids[1], "gender"] == "M"
    assert kept.loc[ids[2], "script"] == "script02"
    assert kept.loc[ids[0], "text"] == "안녕하세요 반가워요"
    # The other gender's rows in each file are accounted, not lost.
    assert sorted(result.skipped["reason"]) == ["other_gender_file"] * 3
    assert result.source_rows == 6
    ecg_rows = result.bio[result.bio["signal"] == "ECG"]
    assert list(ecg_rows["value"]) == [512.0]
    assert set(ecg_rows["speaker"]) == {"Sess01_F"}


def test_single_header_row_is_detected(tmp_path):
    root = tmp_path / "KEMDy19"
    write_wav(wav_of(root, "Sess02_impro03_M004"))
    write_text(wav_of(root, "Sess02_impro03_M004").with_suffix(".txt"), "네", encoding="utf-8")
    path = root / "annotation" / "Session02_M_res.csv"
    path.parent.mkdir(parents=True)
    header = "Numb,Wav(start),Wav(end),Segment ID,Total Evaluation,,\n"
    path.write_text(header + "1,0.1,0.9,Sess02_impro03_M004,surprise,3.3,4.1\n", encoding="utf-8")
    row = load(root).utterances.iloc[0]
    assert (row["emotion"], row["valence"], row["arousal"]) == ("surprise", 3.3, 4.1)

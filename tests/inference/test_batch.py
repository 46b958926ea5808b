import json

import pandas as pd
from typer.testing import CliRunner

from tests.builders import write_wav
from vamer.cli import app

runner = CliRunner()


def test_predict_one_file_a_folder_and_a_manifest(bundle_dir, trained, tmp_path):
    demo = trained[0]
    one = sorted((demo / "wav").rglob("*.wav"))[0]
    result = runner.invoke(app, ["predict", "--bundle", str(bundle_dir), str(one), "--text", "정말 좋았어"])
    assert result.exit_code == 0, result.output
    assert one.stem[:20] in result.output
    folder = demo / "wav" / "Session01"
    out = tmp_path / "results.csv"
    result = runner.invoke(app, ["predict", "--bundle", str(bundle_dir), str(folder), "--out", str(out),
                                 "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == len(list(folder.glob("*.wav"))) and (frame["error"] == "").all()
    assert {"input", "label", "p_neutral", "p_sad", "arousal", "valence", "duration_s", "notes"} <= set(frame.columns)
    wavs = sorted(folder.glob("*.wav"))[:2]
    write_wav(tmp_path / "broken.wav", "truncated")
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"audio": [str(wavs[0]), str(tmp_path / "broken.wav"), str(wavs[1])],
                  "text": ["네 알겠어요", "", ""], "utt_id": ["a", "b", "c"]}).to_csv(manifest, index=False)
    jsonl = tmp_path / "results.jsonl"
    result = runner.invoke(app, ["predict", "--bundle", str(bundle_dir), "--manifest", str(manifest),
                                 "--out", str(jsonl)])
    assert result.exit_code == 0, result.output
    assert "1 of 3 inputs could not be predicted" in result.output
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["input"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["text_source"] == "argument" and rows[2]["text_source"] == "file"
    assert rows[1]["label"] == "" and rows[1]["error_kind"] == "unreadable_wav"
    again = runner.invoke(app, ["predict", "--bundle", str(bundle_dir), str(one), "--out", str(jsonl)])
    assert again.exit_code == 2 and "--force" in again.output


def test_predict_refuses_unclear_requests(bundle_dir, trained, tmp_path):
    wavs = sorted((trained[0] / "wav").rglob("*.wav"))[:2]
    both = runner.invoke(app, ["predict", "--bundle", str(bundle_dir), *map(str, wavs), "--text", "네"])
    assert both.exit_code == 2 and "--text goes with exactly one input" in both.output
    nothing = runner.invoke(app, ["predict", "--bundle", str(bundle_dir)])
    assert nothing.exit_code == 2 and "nothing to predict" in nothing.output
    no_bundle = runner.invoke(app, ["predict", "--bundle", str(tmp_path), str(wavs[0])])
    assert no_bundle.exit_code == 2 and "missing bundle.json" in no_bundle.output
    bad_out = runner.invoke(app, ["predict", "--bundle", str(bundle_dir), str(wavs[0]), "--out", str(tmp_path / "r.txt")])
    assert bad_out.exit_code == 2 and ".csv or .jsonl" in bad_out.output

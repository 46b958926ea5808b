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
    result = runner.invoke(
        app, ["predict", "--bundle", str(bundle_dir), str(folder), "--out", str(out), "--batch-size", "4"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == len(list(folder.glob("*.wav"))) and (frame["error"] == "").all()
    assert {"input", "label", "p_neutral", "p_sad", "arousal", "valence", "duration_s", "notes"} <= set(frame.columns)
    wavs = sorted(folder.glob("*.wav"))[:2]
    write_wav(tmp_path / "broken.wav", "truncated")
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        {
            "audio": [str(wavs[0]), str(tmp_path / "broken.wav"), str(wavs[1])],
            "text": ["네 알겠어요", "", ""],
            "utt_id": ["a", "b", "c"],
        }
    ).to_csv(manifest, index=False)
    jsonl = tmp_path / "results.jsonl"
    result = runner.invoke(
        app, ["predict", "--bundle", str(bundle_dir), "--manifest", str(manifest), "--out", str(jsonl)]
    )
    assert result.exit_code == 0, result.output
    assert "1 of 3 inputs could not be predicted" in result.output
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["input"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["text_source"] == "given" and rows[2]["text_source"] == "given"
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
    bad_out = runner.invoke(
        app, ["predict", "--bundle", str(bundle_dir), str(wavs[0]), "--out", str(tmp_path / "r.txt")]
    )
    assert bad_out.exit_code == 2 and ".csv or .jsonl" in bad_out.output


def test_every_input_gets_its_row_whatever_it_is(bundle_dir, trained, tmp_path):
    import os

    folder = tmp_path / "inputs"
    folder.mkdir()
    wavs = sorted((trained[0] / "wav" / "Session01").glob("*.wav"))[:2]
    (folder / "good.wav").write_bytes(wavs[0].read_bytes())
    (folder / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    os.mkfifo(folder / "pipe.wav")
    write_wav(folder / "nan.wav", "nan", seconds=1)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"audio,text\n{wavs[1]},네\n{wavs[1]},네,surplus\n,empty audio cell\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    result = runner.invoke(
        app,
        [
            "predict",
            "--bundle",
            str(bundle_dir),
            str(folder),
            str(folder / ("x" * 300)),
            "--manifest",
            str(manifest),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out, keep_default_na=False).set_index("input")
    kinds = {name.rsplit("/", 1)[-1][:12]: kind for name, kind in rows["error_kind"].items()}
    assert kinds == {
        "dangling.wav": "not_found",
        "good.wav": "",
        "nan.wav": "non_finite_audio",
        "pipe.wav": "not_a_file",
        "xxxxxxxxxxxx": "unreadable_file",
        wavs[1].name[:12]: "",
        "m.csv:3": "malformed_row",
        "m.csv:4": "not_found",
    }
    assert "3 fields, the header has 2" in rows.loc["m.csv:3", "error"]


def test_an_unusable_out_is_refused_before_any_input_is_read(bundle_dir, tmp_path):
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "folder.csv", "is a folder"), (tmp_path / "file" / "r.csv", "is a file")):
        if message == "is a folder":
            out.mkdir()
        # The input does not exist: the refusal has to come first.
        result = runner.invoke(
            app, ["predict", "--bundle", str(bundle_dir), str(tmp_path / "nope.wav"), "--out", str(out), "--force"]
        )
        assert result.exit_code == 2 and message in result.output, result.output


def test_csv_cells_cannot_run_as_spreadsheet_formulas(bundle_dir, trained, tmp_path):
    """A transcript or a file name that starts like a formula is written with a leading apostrophe
    in CSV (spreadsheet programs would run it); JSON Lines keeps it as it is."""
    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    named = tmp_path / "=HYPERLINK(1).wav"
    named.write_bytes(wav.read_bytes())
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        {
            "audio": [named.name, named.name],
            "text": ['=HYPERLINK("http://x")', "좋아요"],
            "utt_id": ["@SUM(A1)", "plain"],
        }
    ).to_csv(manifest, index=False)
    out = tmp_path / "r.csv"
    result = runner.invoke(
        app, ["predict", "--bundle", str(bundle_dir), "--manifest", str(manifest), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["input"].tolist() == ["'@SUM(A1)", "plain"]
    assert frame["text"].iloc[0].startswith("'=") and frame["text"].iloc[1] == "좋아요"
    assert pd.api.types.is_float_dtype(frame["p_neutral"])  # numbers stay numbers
    jsonl = tmp_path / "r.jsonl"
    assert (
        runner.invoke(
            app, ["predict", "--bundle", str(bundle_dir), "--manifest", str(manifest), "--out", str(jsonl)]
        ).exit_code
        == 0
    )
    assert json.loads(jsonl.read_text().splitlines()[0])["input"] == "@SUM(A1)"


def test_a_file_name_that_is_not_utf8_gets_its_row_and_the_batch_is_written(bundle_dir, trained, tmp_path):
    """It aborted the whole batch after every prediction was made, and nothing was written."""
    import os
    import shutil

    folder = tmp_path / "inputs"
    folder.mkdir()
    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    shutil.copy(wav, os.fsdecode(bytes(folder) + b"/caf\xe9.wav"))  # Latin-1 bytes: not UTF-8
    shutil.copy(wav, folder / "plain.wav")
    for out in (tmp_path / "r.csv", tmp_path / "r.jsonl"):
        result = runner.invoke(
            app, ["predict", "--bundle", str(bundle_dir), str(folder), "--out", str(out), "--asr", "none"]
        )
        assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "r.csv", keep_default_na=False)
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    for names in (list(frame["input"]), [row["input"] for row in rows]):
        assert [os.path.basename(name) for name in names] == ["caf\\xe9.wav", "plain.wav"]
    assert (frame["label"] != "").all() and all(row["label"] for row in rows)


def test_predict_streams_rows_and_a_stopped_job_keeps_them(bundle_dir, trained, tmp_path):
    """`predict --out` wrote nothing until the end: a job stopped after 5 minutes of a 100,000-row
    manifest lost its ~8,000 predictions.  Progress is shown when stderr is a log file, too."""
    import signal
    import subprocess
    import sys
    import time

    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"audio": [str(wav)] * 5000, "utt_id": [f"u{i}" for i in range(5000)]}).to_csv(manifest, index=False)
    out = tmp_path / "results.csv"
    partial = tmp_path / "results.csv.partial"
    log = open(tmp_path / "stderr.log", "w")
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vamer.cli",
            "predict",
            "--bundle",
            str(bundle_dir),
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--batch-size",
            "8",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    deadline = time.monotonic() + 300
    while not (partial.exists() and len(partial.read_text().splitlines()) > 40):
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 143
    log.close()
    stderr = (tmp_path / "stderr.log").read_text()
    rows = pd.read_csv(partial, keep_default_na=False)
    assert len(rows) >= 40 and list(rows["input"][:3]) == ["u0", "u1", "u2"] and (rows["label"] != "").all()
    assert f"rows predicted so far are in {partial}" in stderr and "stopped by SIGTERM" in stderr
    assert "predicting: 8 of 5,000" in stderr  # progress lines in a log file
    assert not out.exists()  # the output name only ever holds a whole result
    again = runner.invoke(app, ["predict", "--bundle", str(bundle_dir), str(wav), "--out", str(out)])
    assert again.exit_code == 2 and "interrupted `vamer predict`" in again.output


def test_file_names_are_shown_as_they_are_not_read_as_markup(bundle_dir, trained, tmp_path):
    """`tag[/b].wav` ended in an internal MarkupError and the table was lost; `[draft] call.wav`
    was shown as ` call.wav`."""
    import shutil

    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    (tmp_path / "tag[").mkdir()
    names = ["tag[/b].wav", "[draft] call.wav", "[red]x.wav"]
    for name in names:
        shutil.copy(wav, tmp_path / name)
    result = runner.invoke(
        app, ["predict", "--bundle", str(bundle_dir), *(str(tmp_path / n) for n in names), "--asr", "none"]
    )
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in ("b].wav", "[draft] call.wav", "[red]x.wav")), result.output

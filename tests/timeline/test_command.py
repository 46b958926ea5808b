"""``vamer predict LONG.wav --timeline``: rows, document and figure; bad input gets one line."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

from tests.builders import srt
from vamer.cli import app

runner = CliRunner()


def test_the_command_writes_rows_a_document_and_a_figure(long_recording, bundle_dir, tmp_path):
    rows, figure = tmp_path / "t.csv", tmp_path / "t.png"
    result = runner.invoke(
        app,
        [
            "predict",
            str(long_recording.path),
            "--bundle",
            str(bundle_dir),
            "--timeline",
            "--out",
            str(rows),
            "--figure",
            str(figure),
            "--asr",
            "none",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(rows)
    speech = table[table["kind"] == "speech"]
    assert len(speech) == len(long_recording.speech) and table["label"][table["kind"] == "silence"].isna().all()
    assert {"start_s", "end_s", "label", "arousal", "valence", "p_neutral"} <= set(table.columns)
    assert "share of speech time" in result.output and "no transcript" in result.output
    assert set(speech["text_source"]) == {"none"} and speech["text"].isna().all()
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 20_000
    document = tmp_path / "t.json"
    again = runner.invoke(
        app,
        [
            "predict",
            str(long_recording.path),
            "--bundle",
            str(bundle_dir),
            "--timeline",
            "--out",
            str(document),
            "--asr",
            "none",
        ],
    )
    assert again.exit_code == 0, again.output
    assert len(json.loads(document.read_text())["segments"]) == len(table)
    refused = runner.invoke(
        app, ["predict", str(long_recording.path), "--bundle", str(bundle_dir), "--timeline", "--out", str(rows)]
    )
    assert refused.exit_code == 2 and "--force" in refused.output  # nothing the user has is overwritten


@pytest.mark.espeak
def test_by_default_the_command_recognises_the_words_of_every_segment(short_recording, bundle_dir, tmp_path):
    rows = tmp_path / "t.csv"
    result = runner.invoke(
        app, ["predict", str(short_recording.path), "--bundle", str(bundle_dir), "--timeline", "--out", str(rows)]
    )
    assert result.exit_code == 0, result.output
    speech = pd.read_csv(rows, keep_default_na=False).query("kind == 'speech'")
    heard = speech[speech["text_source"] == "asr"]
    assert f"whisper-base recognised the words of {len(heard)} of {len(speech)}" in result.output
    # espeak-ng's Korean is hard to hear: Hangul words in most segments, not the right words.
    hangul = [text for text in heard["text"] if any("\uac00" <= ch <= "\ud7a3" for ch in text)]
    assert len(hangul) >= len(speech) / 2, speech[["text_source", "text"]]
    assert (speech.loc[speech["text_source"] == "none", "text"] == "").all()


def test_silence_is_an_empty_timeline_and_bad_transcripts_are_one_line(bundle_dir, long_recording, tmp_path):
    quiet = tmp_path / "quiet.wav"
    soundfile.write(quiet, np.zeros(16_000 * 5, dtype=np.float32), 16_000)
    result = runner.invoke(app, ["predict", str(quiet), "--bundle", str(bundle_dir), "--timeline"])
    assert result.exit_code == 0 and "no speech found" in result.output and "0 speech segments" in result.output

    late = tmp_path / "late.srt"
    late.write_text(srt([(1.0, 2.0, "하나"), (900.0, 901.0, "둘")]), encoding="utf-8")
    result = runner.invoke(
        app, ["predict", str(long_recording.path), "--bundle", str(bundle_dir), "--timeline", "--transcript", str(late)]
    )
    assert result.exit_code == 2 and "late.srt" in result.output and "transcript_past_audio" in result.output
    garbled = tmp_path / "garbled.vtt"
    garbled.write_text("this is not WebVTT\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["predict", str(long_recording.path), "--bundle", str(bundle_dir), "--timeline", "--transcript", str(garbled)],
    )
    assert result.exit_code == 2 and "bad_transcript" in result.output and "Traceback" not in result.output
    two = runner.invoke(app, ["predict", str(quiet), str(quiet), "--bundle", str(bundle_dir), "--timeline"])
    assert two.exit_code == 2 and "one recording" in two.output
    alone = runner.invoke(
        app, ["predict", str(quiet), "--bundle", str(bundle_dir), "--figure", str(tmp_path / "f.png")]
    )
    assert alone.exit_code == 2 and "go with --timeline" in alone.output

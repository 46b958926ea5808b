"""``vamer data transcribe``: empty texts filled by recognition into a new manifest, given text kept,
every clip recognised once (cached), a killed job's finished clips kept."""

import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from vamer.cli import app
from vamer.data import load
from vamer.speech import load_recognizer
from vamer.speech.transcribe import RecognitionCache, cache_file, transcribe_corpus

pytestmark = pytest.mark.espeak
SENTENCES = ["인터넷으로 신청해 주세요", "오늘 날씨가 정말 좋네요", "내일 다시 만나요"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A manifest of three spoken Korean clips: the first with its text given, two without."""
    folder = tmp_path_factory.mktemp("transcribe")
    rows = []
    for index, sentence in enumerate(SENTENCES):
        wav = folder / "wav" / f"clip{index}.wav"
        wav.parent.mkdir(exist_ok=True)
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), sentence], check=True)
        rows.append(
            {
                "audio": f"wav/{wav.name}",
                "text": sentence if index == 0 else "",
                "emotion": "neutral",
                "speaker": f"s{index}",
            }
        )
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


class Counting:
    """The real recogniser, counting the clips it is asked to hear; ``stop_after`` clips, the job is killed."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.real = load_recognizer("whisper-base", "ko")
        self.name, self.language = self.real.name, self.real.language
        self.heard, self.stop_after = 0, stop_after

    def transcribe_many(self, clips):
        for heard in self.real.transcribe_many(clips):
            if self.stop_after is not None and self.heard >= self.stop_after:
                raise KeyboardInterrupt
            self.heard += 1
            yield heard


def test_empty_texts_are_recognised_given_text_is_kept_and_the_manifest_trains(corpus, tmp_path):
    table = load(corpus).utterances
    out, cache = corpus.parent / "with-words.csv", tmp_path / "cache"
    recognizer = Counting()
    summary = transcribe_corpus(table, out, recognizer, cache, quiet=True)
    assert recognizer.heard == 2 and (summary.given, summary.recognised) == (1, 2)

    written = pd.read_csv(out, keep_default_na=False)
    assert list(written["text_source"]) == ["given", "asr", "asr"]
    assert written["text"][0] == SENTENCES[0]
    assert list(written["recogniser"]) == ["", "whisper-base/ko", "whisper-base/ko"]
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in text) for text in written["text"][1:]), written["text"]
    assert list(written["audio"]) == [f"wav/clip{i}.wav" for i in range(3)]  # relative: the folder moves whole

    again = load(out).utterances  # the new manifest reads back, its text sources with it
    assert list(again["text_source"]) == ["given", "asr", "asr"] and list(again["text"][1:]) == list(
        written["text"][1:]
    )

    # Its own manifest read back keeps the recognised rows as recognised: nothing is heard again.
    recognizer = Counting()
    again_out = corpus.parent / "again.csv"
    summary = transcribe_corpus(again, again_out, recognizer, cache, quiet=True)
    rewritten = pd.read_csv(again_out, keep_default_na=False)
    assert recognizer.heard == 0 and (summary.given, summary.recognised) == (1, 2)
    assert list(rewritten["text_source"]) == ["given", "asr", "asr"] and list(rewritten["recogniser"]) == [""] * 3

    # A second run recognises nothing: every clip is in the cache.
    recognizer = Counting()
    summary = transcribe_corpus(table, out, recognizer, cache, force=True, quiet=True)
    assert recognizer.heard == 0 and summary.from_cache == 2 and summary.recognised == 2


def test_a_killed_job_keeps_what_it_heard_and_a_damaged_cache_line_is_heard_again(corpus, tmp_path):
    table = load(corpus).utterances
    out, cache = tmp_path / "out.csv", tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        transcribe_corpus(table, out, Counting(stop_after=1), cache, quiet=True)
    assert not out.exists() and len(RecognitionCache(cache_file(cache, "ko")).heard) == 1

    with cache_file(cache, "ko").open("a", encoding="utf-8") as handle:
        handle.write('{"audio_sha256": "12", "text": \n')  # half a line, as a kill leaves it
    recognizer = Counting()
    summary = transcribe_corpus(table, out, recognizer, cache, quiet=True)
    assert recognizer.heard == 1 and summary.from_cache == 1 and summary.damaged_cache_lines == 1
    assert summary.recognised == 2


def test_the_command_refuses_what_it_cannot_do(corpus, tmp_path):
    runner = CliRunner()
    taken = tmp_path / "taken.csv"
    taken.write_text("mine\n")
    for arguments, message in (
        ([str(corpus), "--out", str(taken)], "already exists"),
        ([str(corpus), "--out", str(tmp_path / "x.csv"), "--asr", "none"], "needs a recogniser"),
        ([str(corpus), "--out", str(tmp_path / "x.txt")], "CSV manifest"),
        ([str(corpus), "--out", str(tmp_path / "x.csv"), "--asr-language", "xx"], "not a language"),
    ):
        result = runner.invoke(app, ["data", "transcribe", *arguments])
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output
    assert taken.read_text() == "mine\n"

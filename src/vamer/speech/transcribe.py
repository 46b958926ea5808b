"""``vamer data transcribe``: a corpus whose clips have no words becomes a manifest whose text
column is filled by speech recognition, so that it can train the whole method.

In: an utterance table (:mod:`vamer.data.table`).  Out: a manifest CSV (:mod:`vamer.data.manifest`)
with one row per kept utterance and the columns of :data:`MANIFEST_COLUMNS`:

- ``text``: the row's words where it has some (never recognised again; ``text_source`` as the
  table says: given, or asr in a manifest this command wrote), else the recognised words
  (``asr``), else empty (``none``: the recogniser heard nothing,
  or the audio could not be read; ``note`` says which);
- ``recogniser``: ``whisper-base/ko`` on the rows it filled.

Recognition is cached per clip under ``<cache>/asr/``, keyed by the audio file's SHA-256, the
weights', the way words are decoded (:data:`~vamer.speech.whisper.DECODING`) and the language: a
second run, or a run after a killed one, recognises only what is not there yet.  Each cached line
is checked when read back; a damaged one is recognised again.

>>> summary = transcribe_corpus(load("corpus/").utterances, Path("with-words.csv"))   # doctest: +SKIP
>>> summary.recognised, summary.given                                                  # doctest: +SKIP
(412, 0)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from vamer.data.transcripts import clean_transcript
from vamer.errors import VamerError
from vamer.fileio import default_cache_dir, file_sha256, output_lock, refuse_overwrite, write_text_atomic
from vamer.progress import progress_reporter
from vamer.speech.whisper import DECODING, MODEL_SHA256, SAMPLE_RATE, Recognition, WhisperRecognizer

MANIFEST_COLUMNS = (
    "utt_id",
    "audio",
    "text",
    "text_source",
    "recogniser",
    "note",
    "emotion",
    "arousal",
    "valence",
    "speaker",
    "session",
    "gender",
)


@dataclass
class TranscribeSummary:
    """What ``vamer data transcribe`` did with each row of the table."""

    rows: int = 0
    given: int = 0
    recognised: int = 0  # rows whose words were recognised (cached ones, and a manifest's asr rows, included)
    from_cache: int = 0
    heard_nothing: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (utt_id, why)
    damaged_cache_lines: int = 0
    audio_seconds: float = 0.0  # audio recognised in this run (not the cached)
    seconds: float = 0.0  # time spent recognising it

    def lines(self, out: Path, recogniser: str) -> list[str]:
        lines = [
            f"wrote {out}: {self.rows} rows; text {self.given} given, {self.recognised} recognised by "
            f"{recogniser} ({self.from_cache} of them from the cache), "
            f"{self.heard_nothing + len(self.unreadable)} without words"
        ]
        if self.audio_seconds:
            lines.append(
                f"recognised {self.audio_seconds / 60:.1f} min of audio in {self.seconds / 60:.1f} min "
                f"({self.audio_seconds / max(self.seconds, 1e-9):.1f}x real time)"
            )
        if self.heard_nothing:
            lines.append(f"{self.heard_nothing} clips: the recogniser heard no words (text_source none)")
        lines += [f"  {utt_id}: {why}" for utt_id, why in self.unreadable]
        if self.damaged_cache_lines:
            lines.append(
                f"{self.damaged_cache_lines} damaged lines of the recognition cache were ignored (recognised again)"
            )
        return lines


class RecognitionCache:
    """What a recogniser heard in each audio file, one JSON line per file, appended as it is heard.

    A line is ``{"audio_sha256", "text", "no_speech", "log_prob"}``; a line that does not parse
    or lacks a field (a job killed mid-line, an edit) is ignored and counted in ``damaged``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.heard: dict[str, Recognition] = {}
        self.damaged = 0
        self.language = path.stem.rsplit("-", 1)[-1]
        if path.is_file():
            with path.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    self._read(line)

    def _read(self, line: str) -> None:
        if not line.strip():
            return
        try:
            entry = json.loads(line)
            key, text = entry["audio_sha256"], entry["text"]
            no_speech, log_prob = float(entry["no_speech"]), float(entry["log_prob"])
            if not (
                isinstance(key, str)
                and len(key) == 64
                and isinstance(text, str)
                and math.isfinite(no_speech)
                and math.isfinite(log_prob)
            ):
                raise ValueError(line)
        except (ValueError, KeyError, TypeError):
            self.damaged += 1
            return
        self.heard[key] = Recognition(text, self.language, no_speech, log_prob)

    def add(self, key: str, heard: Recognition) -> None:
        """Keep ``heard`` in memory and on disk (one line, flushed: a killed job keeps it)."""
        self.heard[key] = heard
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (
            json.dumps(
                {
                    "audio_sha256": key,
                    "text": heard.text,
                    "no_speech": round(heard.no_speech, 4),
                    "log_prob": round(heard.log_prob, 4),
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def cache_file(cache: Path | None, language: str) -> Path:
    """Where Whisper base's recognitions in ``language`` are kept."""
    return (cache or default_cache_dir()) / "asr" / f"whisper-base-{MODEL_SHA256[:12]}-{DECODING}-{language}.jsonl"


def read_clip(path: Path) -> np.ndarray:
    """A clip as 16 kHz mono float32; raises ValueError saying why it cannot be used."""
    import librosa
    import soundfile

    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"cannot be decoded ({error})") from None
    samples = samples.mean(axis=1)
    if not len(samples):
        raise ValueError("holds no samples")
    if not np.isfinite(samples).all():
        raise ValueError("holds NaN or infinite samples")
    return librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE) if rate != SAMPLE_RATE else samples


def _audio_cell(audio_path: str, out: Path) -> str:
    """The audio path as the new manifest names it: relative to its folder when under it."""
    audio, base = Path(audio_path), out.resolve().parent
    try:
        return audio.relative_to(base).as_posix()
    except ValueError:
        return str(audio)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def transcribe_corpus(
    table: pd.DataFrame,
    out: Path,
    recognizer: WhisperRecognizer,
    cache: Path | None = None,
    force: bool = False,
    quiet: bool = False,
) -> TranscribeSummary:
    """Write the manifest of ``table`` to ``out`` (CSV, atomically; an existing file only with
    ``force``), its empty texts filled by ``recognizer``, with progress on stderr unless ``quiet``."""
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise VamerError(f"{out}: vamer data transcribe writes a CSV manifest; name it .csv")
    refuse_overwrite(out, force)
    summary = TranscribeSummary(rows=len(table))
    store = RecognitionCache(cache_file(cache, recognizer.language))
    summary.damaged_cache_lines = store.damaged
    texts = [clean_transcript(_cell(text)) and _cell(text) for text in table["text_raw"]]
    # A row with words keeps where they came from (a manifest this command wrote says asr).
    sources = [source if text else "" for text, source in zip(texts, table["text_source"])]
    notes = [""] * len(table)
    recognisers = [""] * len(table)  # who filled a row's words in this run
    name = f"{recognizer.name}/{recognizer.language}"
    keys: list[str | None] = [None] * len(table)
    todo: list[int] = []
    for index, (source, audio) in enumerate(zip(sources, table["audio_path"])):
        if source:
            continue
        try:
            keys[index] = file_sha256(Path(audio))
        except OSError as error:
            notes[index] = f"audio cannot be read ({error.strerror or error})"
            continue
        if keys[index] in store.heard:
            summary.from_cache += 1
        else:
            todo.append(index)
    readable: list[int] = []

    def clips() -> Iterator[np.ndarray]:
        for index in todo:
            try:
                samples = read_clip(Path(table["audio_path"].iat[index]))
            except ValueError as error:
                notes[index] = f"audio {error}"
                progress(1)
                continue
            readable.append(index)
            summary.audio_seconds += len(samples) / SAMPLE_RATE
            yield samples

    with output_lock(out), progress_reporter("recognising words (clips)", max(1, len(todo)), quiet) as progress:
        started = time.perf_counter()
        for done, heard in enumerate(recognizer.transcribe_many(clips())):
            store.add(keys[readable[done]], heard)
            progress(1)
        summary.seconds = time.perf_counter() - started
        for index, key in enumerate(keys):
            if sources[index] or key is None or key not in store.heard:
                if not sources[index]:
                    sources[index] = "none"
                    summary.unreadable.append((str(table["utt_id"].iat[index]), notes[index] or "not recognised"))
                continue
            words = clean_transcript(store.heard[key].text)
            if words:
                texts[index], sources[index], recognisers[index] = words, "asr", name
            else:
                sources[index], notes[index] = "none", "the recogniser heard no words"
                summary.heard_nothing += 1
        summary.given, summary.recognised = sources.count("given"), sources.count("asr")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for index, row in enumerate(table.itertuples(index=False)):
            record = row._asdict()
            writer.writerow(
                [
                    record["utt_id"],
                    _audio_cell(record["audio_path"], out),
                    texts[index],
                    sources[index],
                    recognisers[index],
                    notes[index],
                    record["emotion"],
                    *(_cell(record.get(column)) for column in ("arousal", "valence", "speaker", "session", "gender")),
                ]
            )
        write_text_atomic(out, buffer.getvalue())
    return summary

"""Small KEMDy-format folders written by the tests themselves, one quirk or fault per row."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

EVALUATORS = ("Eval01F", "Eval02M", "Eval03F")


def write_wav(path: Path, kind: str = "ok", seconds: float = 0.5, rate: int = 16_000, channels: int = 1) -> None:
    """A wav of the given ``kind``: ok, empty (0 frames), corrupt (not audio), truncated (header cut
    short), missing (no file), nan (a float wav holding NaN samples), huge (a float wav whose samples
    are finite but around 1e18)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "missing":
        return
    if kind == "corrupt":
        path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk-not-a-real-header")
        return
    frames = 0 if kind == "empty" else int(seconds * rate)
    t = np.arange(frames) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    if kind == "nan":
        data = np.array(data)
        data[frames // 2 :] = np.nan
    if kind == "huge":
        data = np.array(data) * 1e18
    soundfile.write(str(path), data, rate, subtype="FLOAT" if kind in ("nan", "huge") else "PCM_16")
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:30])


def write_text(path: Path, text: str | None, encoding: str = "cp949") -> None:
    """A transcript; ``None`` writes nothing, encoding 'bad' writes bytes no codec accepts."""
    if text is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xfe\xff\xfa" if encoding == "bad" else text.encode(encoding))


@dataclass
class Segment:
    utt_id: str
    emotion: str = "neutral"
    valence: str = "3.0"
    arousal: str = "3.5"
    text: str | None = "n/ 아 친구들도? l/"
    wav: str = "ok"
    encoding: str = "cp949"
    votes: tuple[str, ...] = ("neutral", "neutral", "happy")
    start: str = "1.5"
    end: str = "3.25"
    wav_folder: str | None = None  # default: the annotation file's session folder


@dataclass
class Kemdy20Builder:
    root: Path
    sessions: dict[int, list] = field(default_factory=dict)
    swapped_header: set[int] = field(default_factory=set)

    def add(self, session: int, segment: Segment) -> Segment:
        self.sessions.setdefault(session, []).append(segment)
        return segment

    def add_raw(self, session: int, cells: list[str]) -> None:
        self.sessions.setdefault(session, []).append(cells)

    def write(self) -> Path:
        for session, items in self.sessions.items():
            swapped = session in self.swapped_header
            header1 = ["Numb", "WAV", " ", "Segment ID", "Total Evaluation", " ", " "]
            names = ["Emotion", "Arousal", "Valence"] if swapped else ["Emotion", "Valence", "Arousal"]
            header2 = [" ", "start", "end", " ", *names]
            for evaluator in EVALUATORS:
                header1 += [evaluator, " ", " "]
                header2 += names
            rows = [header1, header2]
            for number, item in enumerate(items, start=1):
                if isinstance(item, list):
                    rows.append(item)
                    continue
                first, second = (item.arousal, item.valence) if swapped else (item.valence, item.arousal)
                row = [str(number), item.start, item.end, item.utt_id, item.emotion, first, second]
                for vote in item.votes:
                    row += [vote, "3", "3"]
                rows.append(row)
                folder = item.wav_folder or f"Session{session:02d}"
                wav = self.root / "wav" / folder / f"{item.utt_id}.wav"
                write_wav(wav, item.wav)
                write_text(wav.with_suffix(".txt"), item.text, item.encoding)
            path = self.root / "annotation" / f"Sess{session:02d}_eval.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle, lineterminator="\n").writerows(rows)
        return self.root


def write_kemdy19(root: Path, rows_by_file: dict[str, list[list[str]]]) -> Path:
    """KEMDy19 annotations: ``rows_by_file`` maps 'Session01_F_res.csv' to data rows."""
    header1 = ["Numb", "Wav", "", "ECG", "", "E4-EDA", "", "E4-TEMP", "", "Segment ID", "Total Evaluation", "", ""]
    header2 = ["", "start", "end", "start", "end", "start", "end", "start", "end", "", "Emotion", "Valence", "Arousal"]
    for name in ("Eval01", "Eval02"):
        header1 += [name, "", ""]
        header2 += ["Emotion", "Valence", "Arousal"]
    for name, rows in rows_by_file.items():
        path = root / "annotation" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows([header1, header2, *rows])
    return root


def kemdy19_row(number: int, utt_id: str, emotion: str = "neutral", valence: str = "3.0", arousal: str = "3.0"):
    return [
        str(number),
        "0.5",
        "2.5",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        utt_id,
        emotion,
        valence,
        arousal,
        emotion,
        "3",
        "3",
        emotion,
        "3",
        "3",
    ]


def reseal_bundle(folder):
    """Rewrite a bundle's SHA256SUMS after a test edited its files on purpose, so the checks behind
    the checksums (versions, settings, encoder identity) are what the test reaches."""
    from vamer.inference.bundle import write_checksums

    write_checksums(folder)


# A long recording built from demo utterances, with silences between them (the timeline tests).
@dataclass
class LongRecording:
    path: Path
    utterances: list[Path]  # in order
    speech: list[tuple[float, float]]  # where each utterance's speech is, in the long file (s)
    silences: dict[str, tuple[float, float]]  # utt_id -> silence before and after its speech (the plan)
    texts: list[str]


def build_long(
    folder: Path, wavs: list[Path], gaps: list[float], silences: dict[str, tuple[float, float]], name: str = "long.wav"
) -> LongRecording:
    """``wavs`` one after another, each after its gap of room tone.  ``silences``: utt_id -> the
    silence (seconds) the demo generator put before and after that utterance's speech (its plan,
    :func:`vamer.data.demo.corpus.plan_corpus`), so where the speech is is known exactly."""
    rng = np.random.default_rng(0)
    parts, speech, at, rate = [], [], 0.0, None
    for wav, gap in zip(wavs, gaps):
        samples, rate = soundfile.read(wav, dtype="float32")
        quiet = (rng.normal(0, 1e-4, int(gap * rate))).astype(np.float32)  # room tone, not digital zero
        parts += [quiet, samples]
        lead, tail = silences[wav.stem]
        speech.append((at + gap + lead, at + gap + len(samples) / rate - tail))
        at += gap + len(samples) / rate
    parts.append(rng.normal(0, 1e-4, int(1.5 * rate)).astype(np.float32))
    path = folder / name
    soundfile.write(path, np.concatenate(parts), rate)
    texts = [wav.with_suffix(".txt").read_bytes().decode("cp949").strip() for wav in wavs]
    return LongRecording(path, wavs, speech, silences, texts)


def srt(cues: list[tuple[float, float, str]]) -> str:
    def stamp(seconds: float) -> str:
        millis = int(round(seconds * 1000))
        return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"

    return "".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues, 1))


def run_config(path, preset, command: str = "run", **fields):
    """The RunConfig of ``command`` on the corpus at ``path`` with ``preset``, quiet, without
    augmentation unless ``fields`` say otherwise."""
    from vamer.commands.config import DatasetChoice, RunConfig
    from vamer.features.config import AugmentConfig

    fields.setdefault("augment", AugmentConfig())
    return RunConfig(command=command, dataset=DatasetChoice(path=path), preset=preset, progress=False, **fields)

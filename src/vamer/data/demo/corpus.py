"""The SYNTHETIC demo corpus: KEMDy20's exact on-disk layout, filled with generated data.

``generate_demo(out)`` writes::

    README.md, vamer_demo.json          what this is (synthetic!) and how it was made
    annotation/SessNN_eval.csv          two header rows, 10 evaluators per session, 'disqust', 'a;b' ties
    wav/SessionNN/<SegmentID>.wav       16 kHz mono PCM-16, espeak-ng Korean speech plus room noise
    wav/SessionNN/<SegmentID>.txt       cp949 transcript with tags (n/ l/ b/ c/ N/ u/ * + /)
    EDA|TEMP|IBI/SessionNN/*.csv        E4-like bio-signals with gaps (see biosignals.py)

Every random draw comes from generators seeded by ``seed`` and fixed positions, so the same seed
gives byte-identical files whatever the number of workers.
"""

from __future__ import annotations

import csv
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile
import yaml

import vamer
from vamer.data.demo.biosignals import TimedSegment, write_speaker_recording
from vamer.data.demo.speech import SAMPLE_RATE, Voice, prosody_for, render_segment, require_espeak
from vamer.data.kemdy import DEMO_MARKER
from vamer.data.labels import RAW_EMOTIONS
from vamer.data.transcripts import clean_transcript
from vamer.errors import VamerError
from vamer.fileio import atomic_directory, check_replaceable
from vamer.progress import tracked

# Shares of the generated emotions; neutral takes the rest (about 61 %).  KEMDy20 is more skewed
# (87 % neutral), but a 400-segment demo with KEMDy20's shares would hold about ten segments of
# each minority class, too few for any fold's macro F1 to mean something.
EMOTION_SHARES = {"happy": 0.14, "surprise": 0.07, "angry": 0.07, "sad": 0.07, "disgust": 0.02, "fear": 0.02}
TIE_SHARE = 0.02  # segments whose evaluators split 5/5, written as 'a;b'
# Where each emotion sits in the arousal x valence plane.  The order is the method's Games-Howell
# table (DESIGN.md 1): angry, happy and surprise aroused, sad calm; happy positive, angry and sad
# negative, neutral and surprise in the middle.  The distances are stretched (KEMDy20's group means
# lie within 0.7 of each other) so that the premise is learnable from a few hundred segments.
AROUSAL_MEAN = {"neutral": 3.0, "happy": 3.9, "surprise": 4.0, "angry": 4.1, "sad": 2.1, "disgust": 3.3, "fear": 3.8}
VALENCE_MEAN = {"neutral": 3.0, "happy": 4.1, "surprise": 3.1, "angry": 1.9, "sad": 2.1, "disgust": 2.1, "fear": 2.3}
# Spread of a segment's true ratings around its emotion's mean, wide enough that the groups overlap.
# Unequal on purpose: KEMDy20's groups have unequal variances (Bartlett and Levene reject), which is
# why the method used Welch.
TRUE_RATING_SD = {
    "neutral": 0.45,
    "happy": 0.4,
    "surprise": 0.35,
    "angry": 0.45,
    "sad": 0.4,
    "disgust": 0.45,
    "fear": 0.45,
}
# Wording follows valence.  Each band of true valence (lowest bound first match) names the
# sentences to draw from and the appraisal phrase that closes them (sentences.yaml): positive
# sentences ending in "정말 최고예요" above 4, in "좋네요" above 3.5, neutral ones in the middle,
# and so on down.  KEEP_NEUTRAL_WORDING of the segments keep a neutral sentence whatever they feel,
# so text alone cannot solve the task.
VALENCE_BANDS = (
    (4.0, "positive", "very_positive"),
    (3.3, "positive", "mildly_positive"),
    (2.7, "neutral", None),
    (2.0, "negative", "mildly_negative"),
    (float("-inf"), "negative", "very_negative"),
)
KEEP_NEUTRAL_WORDING = 0.15
# Which sentence lists of sentences.yaml make each wording.  The negative wording pools angry, sad,
# disgusted and fearful sentences, and the neutral wording holds the surprised exclamations, so the
# words carry valence but do not name the class.
WORDINGS = {"positive": ("happy",), "negative": ("angry", "sad", "disgust", "fear"), "neutral": ("neutral", "surprise")}
RATER_SD = 0.6
RATER_AGREEMENT = 0.85
EVALUATORS = 10
SCRIPTS = 6
INTERJECTIONS = ("아", "음", "어", "그러니까", "근데", "저기", "아니")
QUIRK_SESSION = 17  # KEMDy20's Sess17_eval.csv names some segments Sess42_...
QUIRK_PREFIX = "Sess42"


@dataclass
class PlannedSegment:
    index: int
    session: int
    script: int
    speaker: str
    utt_id: str
    emotion: str
    total_emotion: str
    votes: list[tuple[str, int, int]]
    valence: float
    arousal: float
    text_raw: str
    voice: Voice
    prosody_seed: int
    snr_db: float
    lead_s: float
    tail_s: float
    true_arousal: float  # before rater noise; drives the prosody and the EDA response
    duration_s: float = 0.0
    start_s: float = 0.0
    end_s: float = 0.0


def _sentences() -> dict[str, list[str]]:
    text = resources.files("vamer.data.demo").joinpath("sentences.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def emotion_counts(total: int) -> dict[str, int]:
    """How many segments of each emotion a corpus of ``total`` segments gets."""
    counts = {emotion: int(round(share * total)) for emotion, share in EMOTION_SHARES.items()}
    for emotion in ("happy", "surprise", "angry", "sad"):
        counts[emotion] = max(counts[emotion], 1 if total >= 10 else 0)
    counts["neutral"] = total - sum(counts.values())
    if counts["neutral"] < total // 2:
        raise VamerError(f"{total} segments are too few for a demo corpus")
    return {emotion: counts.get(emotion, 0) for emotion in RAW_EMOTIONS}


class _Cycler:
    """Draws sentences of one emotion without repeats until the list is used up, then reshuffles."""

    def __init__(self, items: list[str], rng: np.random.Generator) -> None:
        self.items, self.rng, self.queue = items, rng, []

    def next(self) -> str:
        if not self.queue:
            self.queue = list(self.rng.permutation(self.items))
        return self.queue.pop()


def _wording(valence: float, rng: np.random.Generator) -> tuple[str, ...]:
    """The banks a segment of this (true) valence draws its words from: a sentence list, then
    maybe an appraisal phrase."""
    if rng.random() < KEEP_NEUTRAL_WORDING:
        return ("neutral",)
    bank, appraisal = next((bank, appraisal) for bound, bank, appraisal in VALENCE_BANDS if valence >= bound)
    return (bank, appraisal) if appraisal else (bank,)


def _tagged_transcript(sentence: str, rng: np.random.Generator) -> str:
    """Add the KEMDy transcription tags the way transcribers do: noises, hums, stutters, doubts."""
    words = sentence.split()
    if rng.random() < 0.2:
        words.insert(0, str(rng.choice(INTERJECTIONS)) + ("/" if rng.random() < 0.6 else ""))
    if rng.random() < 0.06:
        i = int(rng.integers(len(words)))
        words.insert(i, words[i][0] + "+")
    if rng.random() < 0.05:
        i = int(rng.integers(len(words)))
        words[i] = words[i] + "*"
    if rng.random() < 0.03:
        words.insert(int(rng.integers(len(words) + 1)), "u/")
    prefix = rng.choice(["", "n/", "b/", "c/", "N/"], p=[0.74, 0.12, 0.06, 0.05, 0.03])
    if prefix:
        words.insert(0, str(prefix))
    if rng.random() < 0.08:
        words.append("l/")
    return " ".join(words)


def _votes(emotion: str, tie: bool, valence: float, arousal: float, rng: np.random.Generator):
    partner = "happy" if emotion == "neutral" else "neutral"
    labels = []
    for rater in range(EVALUATORS):
        if tie:
            labels.append(emotion if rater % 2 == 0 else partner)
        elif rng.random() < RATER_AGREEMENT:
            labels.append(emotion)
        elif emotion == "neutral":
            labels.append(
                str(
                    rng.choice(
                        ["happy", "surprise", "sad", "angry", "disgust", "fear"], p=[0.5, 0.15, 0.12, 0.12, 0.06, 0.05]
                    )
                )
            )
        else:
            labels.append("neutral" if rng.random() < 0.75 else "happy" if emotion != "happy" else "surprise")

    def rate(centre: float) -> int:
        return int(np.clip(round(centre + rng.normal(0, RATER_SD)), 1, 5))

    return [(label, rate(valence), rate(arousal)) for label in labels]


def _total_emotion(votes: list[tuple[str, int, int]]) -> str:
    counts: dict[str, int] = {}
    for label, _, _ in votes:
        counts[label] = counts.get(label, 0) + 1
    top = max(counts.values())
    winners = [label for label in RAW_EMOTIONS if counts.get(label) == top]
    # KEMDy20's Total Evaluation column spells disgust 'disqust'.
    return ";".join("disqust" if label == "disgust" else label for label in winners)


def plan_corpus(sessions: int, segments_per_session: int, seed: int) -> list[PlannedSegment]:
    """Decide every segment: speaker, emotion, votes, ratings, wording and prosody seed."""
    rng = np.random.default_rng([seed, 0])
    sentences = _sentences()
    banks = {
        wording: _Cycler([s for name in names for s in sentences[name]], rng) for wording, names in WORDINGS.items()
    }
    banks |= {grade: _Cycler(items, rng) for grade, items in sentences["appraisals"].items()}
    total = sessions * segments_per_session
    counts = emotion_counts(total)
    emotions = rng.permutation([e for e, n in counts.items() for _ in range(n)])
    ties = set(rng.choice(total, size=int(round(TIE_SHARE * total)), replace=False).tolist())
    planned: list[PlannedSegment] = []
    for session in range(1, sessions + 1):
        genders = ["F", "M"] if rng.random() < 0.5 else ["M", "F"]
        if rng.random() < 0.25:
            genders[1] = genders[0]
        speakers = [f"User{2 * session - 1 + k:03d}{g}" for k, g in enumerate(genders)]
        voices = {
            speaker: Voice(
                variant=f"f{rng.integers(1, 6)}" if speaker.endswith("F") else f"m{rng.integers(1, 8)}",
                pitch=int(rng.integers(55, 71)) if speaker.endswith("F") else int(rng.integers(30, 46)),
                rate=int(rng.integers(155, 176)),
            )
            for speaker in speakers
        }
        numbering: dict[tuple[int, str], int] = {}
        first = int(rng.integers(2))
        last_script = (segments_per_session - 1) * SCRIPTS // segments_per_session + 1
        for k in range(segments_per_session):
            index = len(planned)
            script = k * SCRIPTS // segments_per_session + 1
            speaker = speakers[(k + first) % 2]
            numbering[(script, speaker)] = numbering.get((script, speaker), 0) + 1
            prefix = QUIRK_PREFIX if session == QUIRK_SESSION and script == last_script else f"Sess{session:02d}"
            utt_id = f"{prefix}_script{script:02d}_{speaker}_{numbering[(script, speaker)]:03d}"
            emotion = str(emotions[index])
            valence = float(VALENCE_MEAN[emotion] + rng.normal(0, TRUE_RATING_SD[emotion]))
            arousal = float(AROUSAL_MEAN[emotion] + rng.normal(0, TRUE_RATING_SD[emotion]))
            sentence = " ".join(banks[part].next() for part in _wording(valence, rng))
            votes = _votes(emotion, index in ties, valence, arousal, rng)
            text_raw = _tagged_transcript(sentence, rng)
            heavy_noise = text_raw.startswith("N/")
            planned.append(
                PlannedSegment(
                    index=index,
                    session=session,
                    script=script,
                    speaker=speaker,
                    utt_id=utt_id,
                    emotion=emotion,
                    total_emotion=_total_emotion(votes),
                    votes=votes,
                    valence=float(np.mean([v for _, v, _ in votes])),
                    arousal=float(np.mean([a for _, _, a in votes])),
                    text_raw=text_raw,
                    voice=voices[speaker],
                    prosody_seed=int(rng.integers(2**31)),
                    snr_db=float(rng.uniform(3, 8) if heavy_noise else rng.uniform(15, 30)),
                    lead_s=float(rng.uniform(0.1, 0.4)),
                    tail_s=float(rng.uniform(0.1, 0.4)),
                    true_arousal=arousal,
                )
            )
    return planned


def _render(segment: PlannedSegment, wav_path: Path, espeak: str) -> float:
    rng = np.random.default_rng(segment.prosody_seed)
    prosody = prosody_for(segment.voice, segment.emotion, segment.true_arousal, rng)
    samples = render_segment(
        clean_transcript(segment.text_raw),
        prosody,
        segment.prosody_seed + 1,
        segment.snr_db,
        segment.lead_s,
        segment.tail_s,
        espeak,
    )
    soundfile.write(str(wav_path), samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    wav_path.with_suffix(".txt").write_bytes(segment.text_raw.encode("cp949"))
    return len(samples) / SAMPLE_RATE


def _annotation_csv(segments: list[PlannedSegment], rng: np.random.Generator) -> str:
    evaluators = [f"Eval{n:02d}{rng.choice(['F', 'M'])}" for n in range(1, EVALUATORS + 1)]
    header1 = ["Numb", "WAV", " ", "Segment ID", "Total Evaluation", " ", " "]
    header2 = [" ", "start", "end", " ", "Emotion", "Valence", "Arousal"]
    for name in evaluators:
        header1 += [name, " ", " "]
        header2 += ["Emotion", "Valence", "Arousal"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header1)
    writer.writerow(header2)
    ordered = sorted(segments, key=lambda s: (s.script, s.start_s))
    for number, s in enumerate(ordered, start=1):
        row = [
            number,
            f"{s.start_s:.7f}",
            f"{s.end_s:.7f}",
            s.utt_id,
            s.total_emotion,
            f"{s.valence:.1f}",
            f"{s.arousal:.1f}",
        ]
        for label, valence, arousal in s.votes:
            row += [label, valence, arousal]
        writer.writerow(row)
    return buffer.getvalue()


def _readme(sessions: int, segments_per_session: int, seed: int, counts: dict[str, int], hours: float) -> str:
    lines = [
        "# SYNTHETIC demo corpus (not KEMDy20)",
        "",
        f"Generated by vamer {vamer.__version__} with `vamer data demo --sessions {sessions} "
        f"--segments {segments_per_session} --seed {seed}`.",
        "",
        "This folder copies the on-disk layout of ETRI's KEMDy20 so that every vamer command can be tried",
        "without the real data.  Nothing in it is real: the speech is espeak-ng's Korean voice with prosody",
        "driven by each segment's arousal and emotion, the sentences were written for vamer, and the",
        "evaluator votes, arousal/valence ratings and bio-signals are random draws.  Results on it say",
        "nothing about emotion recognition on real speech.",
        "",
        f"Segments: {sum(counts.values())} in {sessions} sessions, {hours:.2f} h of audio.",
        "Generated emotions: " + ", ".join(f"{e} {n}" for e, n in counts.items()) + ".",
        f"About {TIE_SHARE:.0%} of segments have tied votes ('a;b') and Sess{QUIRK_SESSION:02d} names its last",
        f"script's segments {QUIRK_PREFIX}_..., as KEMDy20 does.",
        "",
    ]
    return "\n".join(lines)


def generate_demo(
    out: str | Path,
    sessions: int = 20,
    segments_per_session: int = 20,
    seed: int = 0,
    jobs: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Write the synthetic KEMDy20-format corpus to ``out`` and return its main numbers.

    ``out`` must not exist; with ``force`` an earlier demo corpus (one holding ``vamer_demo.json``)
    is replaced, never any other folder.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> generate_demo(folder, sessions=1, segments_per_session=6, progress=False)["segments"]
    6
    """
    out = Path(out)
    if sessions < 1 or segments_per_session < 2:
        raise VamerError("a demo corpus needs at least 1 session of 2 segments")
    check_replaceable(out, force, "data demo")
    espeak = require_espeak()
    segments = plan_corpus(sessions, segments_per_session, seed)
    counts = emotion_counts(len(segments))
    workers = jobs or os.cpu_count() or 1
    with atomic_directory(out, "data demo", force) as scratch:
        for session in range(1, sessions + 1):
            (scratch / "wav" / f"Session{session:02d}").mkdir(parents=True)
        paths = [scratch / "wav" / f"Session{s.session:02d}" / f"{s.utt_id}.wav" for s in segments]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            durations = list(
                tracked(
                    pool.map(_render, segments, paths, [espeak] * len(segments)),
                    "speaking",
                    len(segments),
                    quiet=not progress,
                )
            )
        for segment, duration in zip(segments, durations):
            segment.duration_s = duration
        _lay_out_time(segments, seed)
        (scratch / "annotation").mkdir()
        for session in range(1, sessions + 1):
            mine = [s for s in segments if s.session == session]
            text = _annotation_csv(mine, np.random.default_rng([seed, 1, session]))
            (scratch / "annotation" / f"Sess{session:02d}_eval.csv").write_text(text, encoding="utf-8")
            _write_bio(scratch, session, mine, seed)
        hours = sum(durations) / 3600
        (scratch / "README.md").write_text(
            _readme(sessions, segments_per_session, seed, counts, hours), encoding="utf-8"
        )
        marker = {
            "generator": "vamer data demo",
            "vamer_version": vamer.__version__,
            "synthetic": True,
            "sessions": sessions,
            "segments_per_session": segments_per_session,
            "seed": seed,
            "generated_emotions": counts,
        }
        (scratch / DEMO_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return {"segments": len(segments), "sessions": sessions, "audio_hours": hours, "emotions": counts}


def _lay_out_time(segments: list[PlannedSegment], seed: int) -> None:
    """Place each script's segments one after another, with pauses, as a conversation."""
    rng = np.random.default_rng([seed, 2])
    clock: dict[tuple[int, int], float] = {}
    for segment in segments:
        key = (segment.session, segment.script)
        start = clock.get(key, float(rng.uniform(0.5, 2.0))) + float(rng.uniform(0.3, 1.5))
        segment.start_s, segment.end_s = start, start + segment.duration_s
        clock[key] = segment.end_s


def _write_bio(root: Path, session: int, segments: list[PlannedSegment], seed: int) -> None:
    rng = np.random.default_rng([seed, 3, session])
    # A quarter of the sessions lose a stretch of EDA; IBI has holes almost everywhere.
    eda_gap = float(rng.uniform(0.25, 0.6)) if rng.random() < 0.25 else 0.0
    session_start = datetime(2020, 8, 21, 9, 0, 0) + timedelta(days=session - 1, minutes=int(rng.integers(0, 240)))
    script_start = session_start
    for script in sorted({s.script for s in segments}):
        in_script = [s for s in segments if s.script == script]
        length = max(s.end_s for s in in_script) + 1.0
        for speaker in sorted({s.speaker for s in in_script}):
            own = [
                TimedSegment(s.utt_id, s.speaker, s.start_s, s.end_s, s.true_arousal)
                for s in in_script
                if s.speaker == speaker
            ]
            stem = own[0].utt_id.rsplit("_", 1)[0]  # Sess01_script01_User001F (Sess42_... for the quirk)
            write_speaker_recording(
                root,
                f"Session{session:02d}",
                stem,
                length,
                script_start,
                own,
                rng,
                (eda_gap, float(rng.uniform(0.1, 0.5)) if rng.random() < 0.5 else 0.0),
            )
        script_start += timedelta(seconds=length + 120)

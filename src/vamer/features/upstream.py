"""A frozen pretrained speech model as an extra audio input (``--audio-encoder``): ``ge2e``, the
voice encoder that ships inside the ``resemblyzer`` wheel (:mod:`vamer.features.voice`, offline, the
default preset's), ``whisper-base``, the speech recogniser's encoder (:class:`WhisperUpstream`,
offline too), or ``hf:<folder or hub id>``: wav2vec 2.0, HuBERT, WavLM or any Hugging Face audio
model with hidden states.

As in the SUPERB emotion task, the model stays frozen and the classifier learns a softmax-weighted
sum of its layers, then pools over time.  Weighting layers and averaging over time are both linear,
so they commute: vamer stores each layer's time average, ``[layers + 1, hidden]`` per utterance (a
few KB instead of the full hidden-state sequence), and the audio encoder learns the layer weights
on top (:class:`vamer.models.audio.AudioEncoder`).

Computed once per (file content, model, settings) and cached like the log-mel; the clip is cut to
the length the log-mel reads (``max_frames``), so both look at the same audio.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from vamer.errors import VamerError
from vamer.features.audio import AudioError, decode, read_seconds
from vamer.features.cache import FeatureCache
from vamer.features.config import AudioFeatureConfig
from vamer.features.text import weights_fingerprint
from vamer.features.voice import GE2E_SPEC, GE2EUpstream, load_ge2e
from vamer.progress import tracked

UPSTREAM_KIND = "audio-upstream"
WHISPER_SPEC = "whisper-base"


class AudioUpstream:
    """A frozen Hugging Face speech encoder: mono samples at 16 kHz -> per-layer time averages."""

    def __init__(self, spec: str) -> None:
        import torch
        from transformers import AutoFeatureExtractor, AutoModel

        if not spec.startswith("hf:") or not spec[3:]:
            raise VamerError(f"unknown audio encoder {spec!r}: use hf:<folder or hub id>")
        source = spec[3:]
        local = Path(source).expanduser()
        where = str(local) if local.exists() else source
        try:
            self.model = AutoModel.from_pretrained(where).eval()
        except (OSError, ValueError) as error:
            raise VamerError(
                f"cannot load Hugging Face audio encoder {source!r}: {str(error).splitlines()[0]}"
            ) from None
        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(where)
        except (OSError, ValueError):
            self.extractor = None  # a bare model folder: raw samples, normalised per clip below
        self.name = f"hf:{local.resolve() if local.exists() else source}"
        self.layers = int(self.model.config.num_hidden_layers) + 1  # the CNN features + every layer
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch
        self._fingerprint = weights_fingerprint(self.model)

    @property
    def identity(self) -> str:
        return f"{self.name}|{self._fingerprint}"

    def pooled_layers(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """``[n]`` mono samples -> ``[layers, hidden]`` float32: each hidden state averaged over time."""
        samples = np.asarray(samples, dtype=np.float32)
        if self.extractor is not None:
            values = self.extractor(samples, sampling_rate=sample_rate, return_tensors="pt")["input_values"]
        else:
            values = self._torch.from_numpy((samples - samples.mean()) / (samples.std() + 1e-7))[None]
        with self._torch.no_grad():
            hidden = self.model(values, output_hidden_states=True).hidden_states  # layers x [1, T, hidden]
        return self._torch.stack([h[0].mean(dim=0) for h in hidden]).float().numpy()


class WhisperUpstream:
    """Whisper base's encoder (the speech recogniser's own weights, :mod:`vamer.speech.whisper`):
    16 kHz mono samples -> ``[2, 512]``: the mean and the standard deviation, over the clip's own
    frames, of the last encoder layer (the encoder reads 30 s whatever the clip's length, so a clip
    costs what 30 s cost: about 0.6 s on 2 cores)."""

    name = WHISPER_SPEC
    layers, dim = 2, 512

    def __init__(self) -> None:
        from vamer.speech.whisper import DEFAULT_LANGUAGE, MODEL_SHA256, WHISPER_BASE, load_recognizer

        self.recognizer = load_recognizer(WHISPER_BASE, DEFAULT_LANGUAGE)  # one model for words and states
        self.identity = f"{WHISPER_SPEC}|{MODEL_SHA256[:16]}|int8|mean,std"

    def pooled_layers(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate != 16_000:
            raise VamerError(f"the whisper-base audio encoder reads 16000 Hz audio, not {sample_rate} Hz")
        states = self.recognizer.encoder_states(samples)  # [frames, 512]
        return np.stack([states.mean(axis=0), states.std(axis=0)])


@lru_cache(maxsize=2)
def load_upstream(spec: str) -> AudioUpstream | GE2EUpstream | WhisperUpstream:
    """One loaded model per spec in a process: ``ge2e``, ``whisper-base`` or ``hf:<folder or hub id>``."""
    if spec == GE2E_SPEC:
        return load_ge2e()
    return WhisperUpstream() if spec == WHISPER_SPEC else AudioUpstream(spec)


def upstream_shape(spec: str | None) -> tuple[int, int]:
    """(layers, hidden) of the configured upstream, (0, 0) without one."""
    if not spec:
        return 0, 0
    upstream = load_upstream(spec)
    return upstream.layers, upstream.dim


def clip_for_model(samples: np.ndarray, config: AudioFeatureConfig) -> np.ndarray:
    """The part of the clip the log-mel reads (its first ``max_frames`` frames)."""
    return samples[: config.max_frames * config.hop_length + config.n_fft]


def model_states(mono: np.ndarray, config: AudioFeatureConfig) -> np.ndarray:
    """What training stores and prediction computes for one clip: the pooled states of the part the
    log-mel reads, ``[layers, hidden]`` float16 (a Hugging Face model's per-layer time averages; GE2E's
    :data:`vamer.features.voice.STATE_ROWS`)."""
    upstream = load_upstream(config.upstream)
    return upstream.pooled_layers(clip_for_model(mono, config), config.sample_rate).astype(np.float16)


def extract_upstream(
    table: pd.DataFrame, config: AudioFeatureConfig, cache_root: str | Path, progress: bool = True
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-layer averages of every utterance of ``table`` (utt_id -> ``[layers, hidden]`` float16),
    and the ids whose file could not be decoded now.  One process: the model uses every core."""
    upstream = load_upstream(config.upstream)
    cache = FeatureCache(cache_root)
    settings = {
        "kind": UPSTREAM_KIND,
        "model": upstream.identity,
        "sample_rate": config.sample_rate,
        "max_frames": config.max_frames,
        "hop_length": config.hop_length,
        "n_fft": config.n_fft,
        "version": 3,
    }
    out: dict[str, np.ndarray] = {}
    failed: list[str] = []
    rows = list(zip(table["utt_id"], table["audio_path"]))
    for utt_id, path in tracked(rows, "audio encoder", len(rows), quiet=not progress):
        try:
            data = Path(path).read_bytes()
            key = cache.key(data, settings)
            stored = cache.get(UPSTREAM_KIND, key, shape=(upstream.layers, upstream.dim), dtype=np.float16)
            if stored is None:
                stored = model_states(decode(data, config.sample_rate, read_seconds(config)), config)
                cache.put(UPSTREAM_KIND, key, stored)
        except (OSError, AudioError):
            failed.append(utt_id)
            continue
        out[utt_id] = stored
    return out, failed

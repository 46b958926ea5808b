"""The input contract: how one utterance becomes what a model reads, and how utterances become a batch.

Training (the items of :class:`vamer.features.store.SplitData` and the collate of
:mod:`vamer.training.data`) and prediction (:class:`vamer.inference.predictor.Predictor`) both go
through this module, so a prediction sees exactly the inputs training saw for the same file:

    samples [n] or [n, channels] at any rate
      -> mono at the preset's rate (channels averaged, soxr)        :func:`vamer.features.audio.mono_at`
      -> log-mel, cropped to max_frames, rounded to float16          (what the feature cache keeps)
      -> mel + delta, ``audio`` [2, T, n_mels] float32, ``audio_mask`` [T] (T <= max_frames)
      -> eGeMAPS ``functionals`` [88] and frozen-encoder ``upstream`` [layers, hidden] when the preset reads them
    transcript -> tags stripped -> ``text`` [n, d] float32 token vectors rounded through float16
      (or [n] int64 ids), ``text_mask`` [n]
    items -> :func:`stack_batch`: cut or zero-padded to the batch's longest valid run (or to the
      given fixed lengths); input standardisation happens inside the model
      (its buffers, fitted on the training split).

>>> import numpy as np
>>> from vamer.features.config import AudioFeatureConfig, TextFeatureConfig
>>> preparer = InputPreparer(AudioFeatureConfig(), TextFeatureConfig(encoder="trainable"))
>>> tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(22_050) / 22_050)).astype(np.float32)
>>> clip = preparer.audio(tone, 22_050)
>>> clip.audio.shape, int(clip.audio_mask.sum())
((2, 32, 128), 32)
>>> batch = stack_batch([clip.model_inputs(*preparer.text(""))])
>>> batch["audio"].shape, batch["text_mask"].shape
((1, 2, 32, 128), (1, 8))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import numpy as np

from vamer.data.transcripts import clean_transcript
from vamer.features.audio import log_mel, mono_at, one_blas_thread, stored_mel, with_delta
from vamer.features.config import AudioFeatureConfig, TextFeatureConfig
from vamer.features.functionals import egemaps
from vamer.features.text import FrozenTextEncoder, TrainableTokens, make_text_encoder, stored_tokens
from vamer.features.upstream import model_states

TRIM_MULTIPLE = 8  # batch lengths stay multiples of every preset's time pooling
NO_FUNCTIONALS = np.zeros(0, dtype=np.float32)  # a preset without clip functionals
NO_UPSTREAM = np.zeros((0, 0), dtype=np.float32)  # a preset without a frozen speech encoder
MODEL_INPUTS = ("audio", "audio_mask", "text", "text_mask", "functionals", "upstream")


class ModelInputs(TypedDict):
    """One utterance as a model reads it (numpy; a batch stacks each into ``[B, ...]``)."""

    audio: np.ndarray  # [2, T, n_mels] float32: log-mel and its delta, T valid frames (or padded, see mask)
    audio_mask: np.ndarray  # [T] bool
    text: np.ndarray  # [n, d] float32 token vectors, or [n] int64 token ids (trainable tokens)
    text_mask: np.ndarray  # [n] bool
    functionals: NotRequired[np.ndarray]  # [F] float32 eGeMAPS (F = 0 without them)
    upstream: NotRequired[np.ndarray]  # [layers, hidden] float32 frozen-encoder states ([0, 0] without)


class Item(ModelInputs):
    """One utterance as training reads it: an item of :class:`vamer.features.store.SplitData`, or of
    any dataset of the same contract (a test's list of items)."""

    utt_id: str
    label: int  # index into the run's classes
    arousal: float  # 1-5, NaN when unrated
    valence: float  # 1-5, NaN when unrated
    aug_of: NotRequired[str]  # the utterance an augmented copy was made from; "" for an original


def model_audio(mel: np.ndarray, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A stored log-mel ``[T, n_mels]`` (float16, or an augmented float32 copy) -> the model's audio
    ``[2, min(T, max_frames), n_mels]`` float32 (mel and delta) and its mask (all True)."""
    audio = with_delta(np.asarray(mel[:max_frames], dtype=np.float32))
    return audio, np.ones(audio.shape[1], dtype=bool)


def frozen_tokens(encoder: FrozenTextEncoder, texts: list[str]) -> list[np.ndarray]:
    """Each text's valid token vectors as training stores them, ``[n, d]`` float16 (n >= 0)."""
    vectors, mask = encoder.encode(texts)
    return [stored_tokens(v[m]) for v, m in zip(vectors, mask)]


def token_inputs(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored frozen token vectors ``[n, d]`` -> the model's ``text`` ``[n, d]`` float32 and its mask."""
    return np.asarray(tokens, dtype=np.float32), np.ones(len(tokens), dtype=bool)


def id_inputs(tokens: TrainableTokens, text: str) -> tuple[np.ndarray, np.ndarray]:
    """A trainable encoder's ids of ``text`` up to its last valid one: ``[n]`` int64 and the mask."""
    ids, mask = tokens.encode([text])
    valid = int(mask[0].sum())
    return ids[0, :valid], mask[0, :valid]


@dataclass
class AudioInputs:
    """One clip as the audio side of a model reads it."""

    audio: np.ndarray  # [2, T, n_mels] float32, T <= max_frames
    audio_mask: np.ndarray  # [T] bool
    functionals: np.ndarray  # [88] float32, or [0]
    upstream: np.ndarray  # [layers, hidden] float32, or [0, 0]
    seconds: float  # seconds of mono audio at the preset's rate

    def model_inputs(self, text: np.ndarray, text_mask: np.ndarray) -> ModelInputs:
        """The whole item: this clip with its text inputs."""
        return {
            "audio": self.audio,
            "audio_mask": self.audio_mask,
            "text": text,
            "text_mask": text_mask,
            "functionals": self.functionals,
            "upstream": self.upstream,
        }


class InputPreparer:
    """Everything between a recording (or a transcript) and the model, for one preset's settings.
    One utterance at a time, on one BLAS thread (see :func:`vamer.features.audio.one_blas_thread`).

    ``vocabulary``: the ids of a trainable text encoder (fitted on a training split; a bundle keeps
    it).  Raises :class:`vamer.features.audio.AudioError` for audio that cannot be used.
    """

    def __init__(
        self,
        audio_config: AudioFeatureConfig,
        text_config: TextFeatureConfig,
        encoder: FrozenTextEncoder | TrainableTokens | None = None,
        vocabulary: dict[str, int] | None = None,
    ) -> None:
        self.audio_config, self.text_config = audio_config, text_config
        self.encoder = encoder or make_text_encoder(
            text_config.encoder, text_config.max_length, text_config.sentence_token
        )
        if isinstance(self.encoder, TrainableTokens) and vocabulary is not None:
            self.encoder.vocabulary = dict(vocabulary)

    def audio(self, samples: np.ndarray, rate: int, frozen: tuple[np.ndarray, np.ndarray] | None = None) -> AudioInputs:
        """Samples ``[n]`` or ``[n, channels]`` at ``rate`` -> the clip's model inputs.  ``frozen``: the
        clip's (upstream, functionals) when they were computed already (:meth:`frozen`); the frozen
        inputs here are raw: speaker normalisation (:mod:`vamer.features.speakers`) comes after."""
        config = self.audio_config
        mono = mono_at(samples, rate, config.sample_rate)
        audio, mask = model_audio(stored_mel(log_mel(mono, config), config), config.max_frames)  # one BLAS thread
        upstream, functionals = frozen if frozen is not None else self._frozen(mono)
        return AudioInputs(audio, mask, functionals, upstream, len(mono) / config.sample_rate)

    def frozen(self, samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        """The clip's raw frozen inputs alone: (upstream ``[rows, hidden]``, functionals ``[F]``)."""
        return self._frozen(mono_at(samples, rate, self.audio_config.sample_rate))

    def _frozen(self, mono: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (upstream, functionals) of mono samples at the preset's rate."""
        config = self.audio_config
        upstream = model_states(mono, config).astype(np.float32) if config.upstream else NO_UPSTREAM
        functionals = egemaps(mono, config.sample_rate) if config.functionals == "egemaps" else NO_FUNCTIONALS
        return upstream, functionals

    def text(self, transcript: str) -> tuple[np.ndarray, np.ndarray]:
        """A raw transcript (tags and all) -> ``text`` ``[n, d]`` float32 (or ``[n]`` ids) and its mask."""
        cleaned = clean_transcript(transcript or "")
        if isinstance(self.encoder, TrainableTokens):
            return id_inputs(self.encoder, cleaned)
        with one_blas_thread():
            return token_inputs(frozen_tokens(self.encoder, [cleaned])[0])


def batch_length(longest: int) -> int:
    """Length a batch is padded to: its longest valid run, rounded up to a multiple of TRIM_MULTIPLE.

    >>> batch_length(37), batch_length(0)
    (40, 8)
    """
    return max(TRIM_MULTIPLE, -(-longest // TRIM_MULTIPLE) * TRIM_MULTIPLE)


def stack_batch(
    items: Sequence[ModelInputs], frames: int | None = None, tokens: int | None = None
) -> dict[str, np.ndarray]:
    """Items (dicts of :data:`MODEL_INPUTS`) -> one batch of arrays, ``[B, ...]`` each.

    Audio and text are cut or zero-padded to the batch's longest valid run rounded up by
    :func:`batch_length` (padding lies under the masks, so outputs do not
    change), or to exactly ``frames`` / ``tokens`` when given (a fixed-shape graph).  An item may
    come padded to the preset's length or holding only its valid frames and tokens.
    """
    longest_frames = max(int(np.sum(item["audio_mask"])) for item in items)
    longest_tokens = max(int(np.sum(item["text_mask"])) for item in items)
    frames = frames or batch_length(longest_frames)
    tokens = tokens or batch_length(longest_tokens)
    sizes = {"audio": (frames, 1), "audio_mask": (frames, 0), "text": (tokens, 0), "text_mask": (tokens, 0)}
    batch = {}
    for key in MODEL_INPUTS:
        values = [np.asarray(item.get(key, NO_FUNCTIONALS if key == "functionals" else NO_UPSTREAM)) for item in items]
        batch[key] = _stack_to_length(values, *sizes[key]) if key in sizes else np.stack(values)
    return batch


def _stack_to_length(arrays: list[np.ndarray], length: int, axis: int) -> np.ndarray:
    """``arrays`` cut or zero-padded to ``length`` along ``axis`` and stacked: ``[len(arrays), ...]``.

    One zeroed batch array, each item copied into it: no per-item padded copy (``np.pad`` per item
    and key was a tenth of a small model's training step).

    >>> _stack_to_length([np.ones(3), np.ones(5)], 4, 0).tolist()
    [[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    """
    shape = list(arrays[0].shape)
    shape[axis] = length
    batch = np.zeros((len(arrays), *shape), dtype=np.result_type(*arrays))
    for row, array in enumerate(arrays):
        kept = (slice(None),) * axis + (slice(0, min(length, array.shape[axis])),)
        batch[(row, *kept)] = array[kept]
    return batch

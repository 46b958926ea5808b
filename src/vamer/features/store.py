"""All model inputs of a dataset: audio and text features computed once, then split and augmented.

``FeatureStore.build(table, ...)`` is the one call that extracts (or reads from the cache) the
log-mel of every utterance and the frozen text encodings; ``store.fold_inputs(fold, augment)`` is
the one call per fold that returns its train (with augmented copies), val and test data.

Item contract (``SplitData[i]``): ``utt_id``; ``audio`` ``[2, max_frames, n_mels]`` float32 and
``audio_mask`` ``[max_frames]`` bool; ``text`` ``[L, d]`` float32 (or ``[L]`` int64 ids for the
trainable encoder) and ``text_mask`` ``[L]`` bool; ``label`` int (index in ``classes``);
``functionals`` ``[F]`` float32 (eGeMAPS, F = 88, when the audio settings ask for them; else
``[0]``); ``upstream`` ``[rows, hidden]`` float32 (a frozen speech encoder's pooled states, with
``--audio-encoder``: GE2E's ``[7, 256]``, an hf: model's per-layer time averages; else
``[0, 0]``); ``arousal``, ``valence`` float (NaN when unrated); ``aug_of`` (source utt_id, or ""
for originals; a copy keeps its source's functionals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from vamer.errors import VamerError
from vamer.features.audio import one_blas_thread
from vamer.features.augment import augment_mel, class_counts, plan_copies
from vamer.features.cache import FeatureCache
from vamer.features.config import AudioFeatureConfig, AugmentConfig, TextFeatureConfig
from vamer.features.extract import extract_audio
from vamer.features.functionals import extract_functionals
from vamer.features.inputs import (
    NO_FUNCTIONALS,
    NO_UPSTREAM,
    Item,
    frozen_tokens,
    id_inputs,
    model_audio,
    token_inputs,
)
from vamer.features.speakers import SpeakerContext, speaker_column, uses_context, without_context_share
from vamer.features.splits import Fold, check_leakage
from vamer.features.text import FrozenTextEncoder, TrainableTokens, make_text_encoder
from vamer.features.upstream import extract_upstream
from vamer.fileio import default_cache_dir

TEXT_KIND = "text-tokens"
# Built items a split keeps for the next epoch; beyond this they are built again each time.
MEMO_BYTES = 2 * 1024**3


class Split(Protocol):
    """A split as training reads it: a map-style dataset of :class:`~vamer.features.inputs.Item`
    (a :class:`SplitData`, or a test's list of items)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Item: ...


@dataclass
class FoldData:
    """One fold's data for one training seed, what training reads: three splits of items, and the
    training split's class counts before and after augmentation."""

    train: Split
    val: Split
    test: Split
    class_counts: pd.DataFrame | None = None
    protocol: str = ""
    # With speaker context: the test split as a stranger's clips are predicted (population statistics),
    # and the fold's statistics (its population is the training split's).
    test_without_context: Split | None = None
    context: SpeakerContext | None = None


@dataclass
class SplitData:
    """One split's rows; items are built on demand so a large split never sits in memory whole."""

    store: "FeatureStore"
    rows: pd.DataFrame  # utt_id, emotion, arousal, valence, text, aug_of, copy, ops
    tokens: TrainableTokens | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # how this split's copies were planned
    context: SpeakerContext | None = None  # per-speaker normalisation of the frozen inputs, when the preset asks
    with_context: bool = True  # False: every item gets the population statistics
    dropout_seed: int | None = None  # training: context_dropout of the items, drawn with this seed
    # Items built so far (index -> item) and their bytes, bounded by MEMO_BYTES.
    memo: dict[int, Item] = field(default_factory=dict, repr=False, compare=False)
    memo_bytes: int = field(default=0, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> np.ndarray:
        return np.array([self.store.classes.index(e) for e in self.rows["emotion"]], dtype=np.int64)

    @property
    def lengths(self) -> np.ndarray:
        """Valid audio frames of every item (an augmented copy has its source's)."""
        limit = self.store.audio_config.max_frames
        return np.array(
            [
                min(len(self.store.mels[aug_of or utt_id]), limit)
                for utt_id, aug_of in zip(self.rows["utt_id"], self.rows["aug_of"])
            ],
            dtype=np.int64,
        )

    def frozen(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``index``'s ``upstream`` and ``functionals`` alone, as the item holds them (what a
        linear probe reads, without building the rest)."""
        return self._frozen(self.rows.iloc[index])

    def _frozen(self, row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        source = row["aug_of"] or row["utt_id"]
        functionals = self.store.functionals.get(source, NO_FUNCTIONALS)
        upstream = self.store.upstream.get(source, NO_UPSTREAM).astype(np.float32)
        if self.context is not None:
            config = self.store.audio_config
            with_context = self.with_context and not (
                self.dropout_seed is not None
                and without_context_share(source, int(row["copy"]), self.dropout_seed) < config.context_dropout
            )
            upstream, functionals = self.context.statistics(source, with_context).normalise(
                upstream, np.asarray(functionals, dtype=np.float32), config.speaker_norm
            )
        return upstream, functionals

    def __getitem__(self, index: int) -> Item:
        """Item ``index``: audio ``[2, T, n_mels]`` and text ``[n, d]`` (or ``[n]`` ids) hold only their
        valid frames and tokens (``collate`` pads a batch); built once, then kept while the split's
        items stay under MEMO_BYTES, because every epoch asks again."""
        if index in self.memo:
            return self.memo[index]
        row = self.rows.iloc[index]
        source = row["aug_of"] or row["utt_id"]
        mel = self.store.mels[source][: self.store.audio_config.max_frames]
        if row["aug_of"]:
            mel = augment_mel(mel.astype(np.float32), row["ops"], self.augment, source, int(row["copy"]))
        audio, audio_mask = model_audio(mel, self.store.audio_config.max_frames)
        if self.tokens is not None:
            text, text_mask = id_inputs(self.tokens, row["text"])
        else:
            text, text_mask = token_inputs(self.store.stored_tokens(row["text"]))
        upstream, functionals = self._frozen(row)
        item: Item = {
            "utt_id": row["utt_id"],
            "audio": audio,
            "audio_mask": audio_mask,
            "text": text,
            "text_mask": text_mask,
            "functionals": functionals,
            "upstream": upstream,
            "label": self.store.classes.index(row["emotion"]),
            "arousal": float(row["arousal"]),
            "valence": float(row["valence"]),
            "aug_of": row["aug_of"],
        }
        size = audio.nbytes + item["text"].nbytes
        if self.memo_bytes + size <= MEMO_BYTES:
            self.memo[index] = item
            self.memo_bytes += size
        return item


def _with_unreadable(skipped: pd.DataFrame, failed: list[str], detail: str) -> pd.DataFrame:
    """``skipped`` and the utterances ``failed`` (unreadable_wav, with ``detail``)."""
    found = pd.DataFrame({"utt_id": failed, "reason": "unreadable_wav", "detail": detail})
    return pd.concat([skipped, found], ignore_index=True)


def check_classes(table: pd.DataFrame, classes: list[str]) -> None:
    """A class with no utterance cannot be learned and would score a silent 0 in every macro
    average: refuse it, saying what the data holds."""
    counts = table["emotion"].value_counts()
    empty = [label for label in classes if int(counts.get(label, 0)) == 0]
    if empty:
        held = ", ".join(f"{label} {int(n)}" for label, n in counts.items()) or "nothing"
        raise VamerError(
            f"class(es) {', '.join(empty)} have no usable utterance (kept: {held}); choose the classes with --classes"
        )


class FeatureStore:
    def __init__(
        self,
        table: pd.DataFrame,
        mels: dict[str, np.ndarray],
        skipped: pd.DataFrame,
        classes: list[str],
        audio_config: AudioFeatureConfig,
        text_config: TextFeatureConfig,
        encoder: FrozenTextEncoder | TrainableTokens,
        cache: FeatureCache,
    ) -> None:
        self.table, self.mels, self.skipped, self.classes = table, mels, skipped, classes
        self.audio_config, self.text_config, self.encoder, self.cache = audio_config, text_config, encoder, cache
        self.stats: dict[str, Any] = {}  # what extraction did: audio (computed, cached, ...), empty_text
        self.functionals: dict[str, np.ndarray] = {}
        self.upstream: dict[str, np.ndarray] = {}

    @classmethod
    def build(
        cls,
        table: pd.DataFrame,
        classes: list[str],
        audio_config: AudioFeatureConfig | None = None,
        text_config: TextFeatureConfig | None = None,
        cache_dir: str | Path | None = None,
        jobs: int | None = None,
        progress: bool = True,
        rank: int = 0,
    ) -> "FeatureStore":
        """Extract (or read from the cache) every utterance's audio features and text encoding.

        Utterances whose audio cannot be used are dropped into ``skipped`` (utt_id, reason, detail).
        In a distributed run, ``rank`` 0 computes and the other ranks wait for it, then read the
        cache: features are computed once, not once per process.
        """
        check_classes(table, list(classes))
        audio_config = audio_config or AudioFeatureConfig()
        text_config = text_config or TextFeatureConfig()
        cache = FeatureCache(cache_dir or default_cache_dir())
        token = cache.key(
            json.dumps(sorted(zip(table["utt_id"], table["audio_path"], table["text"].fillna("")))).encode("utf-8"),
            {"audio": audio_config.model_dump(), "text": text_config.model_dump()},
        )
        if rank > 0:
            cache.wait_built(token)
        audio = extract_audio(table, audio_config, cache.root, jobs=jobs, progress=progress)
        kept = table[table["utt_id"].isin(audio.mels)].reset_index(drop=True)
        check_classes(kept, list(classes))
        skipped = audio.skipped
        functionals = None
        if audio_config.functionals == "egemaps":
            functionals, failed = extract_functionals(kept, audio_config, cache.root, jobs=jobs, progress=progress)
            if failed:
                skipped = _with_unreadable(skipped, failed, "unreadable when its eGeMAPS were computed")
                keep = ~kept["utt_id"].isin(failed).to_numpy()
                kept, functionals = kept[keep].reset_index(drop=True), functionals[keep]
        upstream: dict[str, np.ndarray] = {}
        if audio_config.upstream:
            upstream, failed = extract_upstream(kept, audio_config, cache.root, progress=progress)
            if failed:
                skipped = _with_unreadable(skipped, failed, "unreadable when the audio encoder ran")
                keep = ~kept["utt_id"].isin(failed).to_numpy()
                kept = kept[keep].reset_index(drop=True)
                functionals = functionals[keep] if functionals is not None else None
        encoder = make_text_encoder(text_config.encoder, text_config.max_length, text_config.sentence_token)
        store = cls(kept, audio.mels, skipped, list(classes), audio_config, text_config, encoder, cache)
        store.stats["audio"] = audio.stats
        if functionals is not None:
            store.functionals = dict(zip(kept["utt_id"], functionals))
        store.upstream = upstream
        if not isinstance(encoder, TrainableTokens):
            store.encode_texts(list(kept["text"]))
        if rank == 0:
            cache.mark_built(token)
        store.stats["empty_text"] = int((kept["text"].fillna("").str.strip() == "").sum())
        return store

    def functionals_matrix(self, progress: bool = True) -> tuple[np.ndarray, list[str]]:
        """eGeMAPS of every kept utterance, ``[n, 88]`` in table order, and the ids that could not be
        read for them: what the store holds when the model reads them, else computed (and cached) now
        for the classic baselines (an unreadable clip gets zeros)."""
        if self.functionals:
            return np.stack([self.functionals[u] for u in self.table["utt_id"]]), []
        return extract_functionals(self.table, self.audio_config, self.cache.root, progress=progress)

    def encode_texts(self, texts: list[str]) -> None:
        """Fill the cache with the frozen encodings of ``texts`` (only the missing ones are computed)."""
        missing = sorted({t for t in texts if self._cached_tokens(t) is None})
        # On one BLAS thread, as a prediction encodes: OpenBLAS sums in another order on two threads,
        # and on some processors that moved a token vector by one float16 step, so a prediction's
        # text input was not exactly what training read.
        with one_blas_thread():
            for start in range(0, len(missing), 256):
                chunk = missing[start : start + 256]
                for text, tokens in zip(chunk, frozen_tokens(self.encoder, chunk)):
                    self.cache.put(TEXT_KIND, self._text_key(text), tokens)

    def _text_key(self, text: str) -> str:
        return self.cache.key(text.encode("utf-8"), {"encoder": self.encoder.identity, "blas_threads": 1})

    def stored_tokens(self, text: str) -> np.ndarray:
        """Frozen encoding of one (cleaned) text, its valid tokens ``[n, d]`` float16, from the cache."""
        stored = self._cached_tokens(text)
        if stored is None:
            self.encode_texts([text])
            stored = self._cached_tokens(text)
        return stored

    def _cached_tokens(self, text: str) -> np.ndarray | None:
        return self.cache.get(TEXT_KIND, self._text_key(text), shape=(None, self.encoder.dim), dtype=np.float16)

    def _rows(self, ids: tuple[str, ...]) -> pd.DataFrame:
        rows = self.table.set_index("utt_id").loc[[i for i in ids if i in self.mels]].reset_index()
        rows = rows[["utt_id", "emotion", "arousal", "valence", "text"]].copy()
        rows["text"] = rows["text"].fillna("")
        rows["aug_of"], rows["copy"], rows["ops"] = "", 0, ""
        return rows

    def speaker_context(self, population_ids: list[str]) -> SpeakerContext | None:
        """Every speaker's statistics over all kept clips (labels never read; a test speaker's too,
        which makes an evaluation transductive), with the population of ``population_ids``; None
        when the preset does not normalise per speaker."""
        config = self.audio_config
        if not uses_context(config.speaker_norm):
            return None
        return SpeakerContext(
            config.speaker_norm,
            config.speaker_min_clips,
            speaker_column(self.table),
            self.upstream,
            self.functionals,
            population_ids,
            config.speaker_prior_clips,
        )

    def split(self, ids: tuple[str, ...] | None = None) -> SplitData:
        """The model inputs of the utterances ``ids`` (default: every one kept), exactly as training
        reads them, without augmented copies: what a prediction's inputs are checked against."""
        return SplitData(self, self._rows(tuple(self.table["utt_id"]) if ids is None else tuple(ids)))

    def fold_inputs(self, fold: Fold, augment: AugmentConfig | None = None) -> FoldData:
        """Train (with augmented copies), val and test data of ``fold``, plus the class counts before
        and after augmentation.  Runs the leakage check with the copies included."""
        augment = augment or AugmentConfig()
        train = self._rows(fold.train)
        copies = plan_copies(train, augment)
        check_leakage(fold, self.table, copies)
        if len(copies):
            sources = train.set_index("utt_id")
            copies = copies.assign(
                arousal=sources.loc[copies["aug_of"], "arousal"].to_numpy(),
                valence=sources.loc[copies["aug_of"], "valence"].to_numpy(),
            )
        train_all = pd.concat([train, copies[train.columns]], ignore_index=True) if len(copies) else train
        tokens = None
        if isinstance(self.encoder, TrainableTokens):
            tokens = TrainableTokens(self.text_config.max_length).fit(list(train_all["text"]))
        elif len(copies):
            self.encode_texts(list(copies["text"]))
        context = self.speaker_context(list(train["utt_id"]))
        test = self._rows(fold.test)
        return FoldData(
            train=SplitData(self, train_all, tokens, augment, context, dropout_seed=augment.seed),
            val=SplitData(self, self._rows(fold.val), tokens, context=context),
            test=SplitData(self, test, tokens, context=context),
            class_counts=class_counts(train, copies, self.classes),
            protocol=fold.protocol,
            test_without_context=(
                SplitData(self, test, tokens, context=context, with_context=False) if context else None
            ),
            context=context,
        )

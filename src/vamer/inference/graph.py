"""The inference graph of a bundle: one module from model inputs to everything ``predict`` returns.

Both engines run this graph: PyTorch directly, onnxruntime after :mod:`vamer.inference.export`, so
they cannot disagree about what the model computes.

Inputs (B utterances; T frames and L tokens may be any multiple of the preset's time pooling):

    audio        [B, 2, T, n_mels] float32   log-mel + delta, zero-padded
    audio_mask   [B, T] bool                 True on real frames
    text         [B, L, d] float32           frozen token vectors (or [B, L] int64 ids, trainable encoder)
    text_mask    [B, L] bool                 True on real tokens; all False = no text
    functionals  [B, F] float32              eGeMAPS of the clip (only when the preset's audio
                                             features include them: see ``graph_inputs``)
    upstream     [B, layers, hidden] float32 a frozen speech model's per-layer time averages
                                             (only with an audio encoder)

Outputs:

    probabilities [B, classes]   softmax of the fusion classifier
    arousal       [B]            audio regressor (rating scale 1-5)
    valence       [B]            text regressor (rating scale 1-5)
"""

from __future__ import annotations

import torch
from torch import nn

from vamer.errors import VamerError
from vamer.inference.bundle import Bundle
from vamer.models.audio import ArousalRegressor
from vamer.models.presets import build_models, functionals_dim
from vamer.models.text import ValenceRegressor

INPUTS = ("audio", "audio_mask", "text", "text_mask")
OUTPUTS = ("probabilities", "arousal", "valence")


def graph_inputs(bundle: Bundle) -> tuple[str, ...]:
    """The graph's input names for this bundle, in call order."""
    return (INPUTS + (("functionals",) if functionals_dim(bundle.preset) else ())
            + (("upstream",) if bundle.preset.audio_features.upstream else ()))


class InferenceGraph(nn.Module):
    def __init__(self, fusion: nn.Module, arousal: ArousalRegressor, valence: ValenceRegressor) -> None:
        super().__init__()
        self.fusion, self.arousal, self.valence = fusion, arousal, valence

    def forward(self, audio: torch.Tensor, audio_mask: torch.Tensor, text: torch.Tensor,
                text_mask: torch.Tensor, functionals: torch.Tensor | None = None,
                upstream: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        probabilities = self.fusion(audio, audio_mask, text, text_mask, functionals, upstream).softmax(dim=-1)
        return probabilities, self.arousal(audio, audio_mask, functionals, upstream), self.valence(text, text_mask)


def build_graph(bundle: Bundle) -> InferenceGraph:
    """The bundle's three models with their weights, in eval mode.

    The regressors get their own encoders: when fusion fine-tuned its copies, the regression heads
    must still read the encoders they were trained with.
    """
    vocab_size = len(bundle.vocabulary) + 2 if bundle.vocabulary is not None else None
    fusion = build_models(bundle.preset, len(bundle.classes), bundle.text_dim, vocab_size)["fusion"]
    regressors = build_models(bundle.preset, len(bundle.classes), bundle.text_dim, vocab_size)
    graph = InferenceGraph(fusion, regressors["arousal"], regressors["valence"])
    for name, model in (("fusion", fusion), ("arousal", graph.arousal), ("valence", graph.valence)):
        try:
            model.load_state_dict(bundle.weights(name))
        except RuntimeError as error:
            first = str(error).splitlines()[0]
            raise VamerError(f"bundle {bundle.folder}: {name}.safetensors does not fit the bundle's preset "
                             f"({first})") from None
    return graph.eval()

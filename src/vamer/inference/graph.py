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
    upstream     [B, rows, hidden] float32   a frozen speech encoder's pooled states (only with an
                                             audio encoder: ge2e [B, 7, 256], or an hf: model's
                                             per-layer time averages)

Outputs:

    probabilities [B, classes]   softmax of the fusion classifier; with a probe ensemble, its weighted
                                 average with the softmax of the linear probe of ``upstream`` and
                                 ``functionals`` (the probe's share chosen on validation)
    arousal       [B]            audio regressor (rating scale 1-5)
    valence       [B]            text regressor (rating scale 1-5)
"""

from __future__ import annotations

import torch
from torch import nn

from vamer.errors import VamerError
from vamer.features.upstream import upstream_shape
from vamer.inference.bundle import Bundle
from vamer.models.audio import ArousalRegressor
from vamer.models.fusion import FusionClassifier
from vamer.models.probe import LinearProbe
from vamer.models.text import ValenceRegressor
from vamer.presets import functionals_dim
from vamer.presets.build import build_models

INPUTS = ("audio", "audio_mask", "text", "text_mask")
OUTPUTS = ("probabilities", "arousal", "valence")


def graph_inputs(bundle: Bundle) -> tuple[str, ...]:
    """The graph's input names for this bundle, in call order."""
    return (
        INPUTS
        + (("functionals",) if functionals_dim(bundle.preset) else ())
        + (("upstream",) if bundle.preset.audio_features.upstream else ())
    )


class InferenceGraph(nn.Module):
    """Fusion and both regressors.  An encoder that fusion kept frozen is the regressor's own, so
    it runs once and both heads read its output (``shared_audio`` / ``shared_text``); an encoder
    that fusion fine-tuned runs twice, once with each set of weights."""

    def __init__(
        self,
        fusion: FusionClassifier,
        arousal: ArousalRegressor,
        valence: ValenceRegressor,
        shared_audio: bool = False,
        shared_text: bool = False,
        probe: LinearProbe | None = None,
    ) -> None:
        super().__init__()
        self.fusion, self.arousal, self.valence, self.probe = fusion, arousal, valence, probe
        self.shared_audio, self.shared_text = shared_audio, shared_text

    def forward(
        self,
        audio: torch.Tensor,
        audio_mask: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        functionals: torch.Tensor | None = None,
        upstream: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, a_mask, t, t_mask = self.fusion.encode(audio, audio_mask, text, text_mask, functionals, upstream)
        probabilities = self.fusion.fuse(a, a_mask, t, t_mask).softmax(dim=-1)  # [B, classes]
        if self.probe is not None:
            upstream = upstream if upstream is not None else audio.new_zeros(audio.shape[0], 0, 0)
            functionals = functionals if functionals is not None else audio.new_zeros(audio.shape[0], 0)
            share = self.probe.ensemble_weight
            probabilities = (1 - share) * probabilities + share * self.probe(upstream, functionals).softmax(dim=-1)
        arousal = (
            self.arousal.head(a, a_mask)
            if self.shared_audio
            else self.arousal(audio, audio_mask, functionals, upstream)
        )  # [B]
        valence = self.valence.head(t, t_mask) if self.shared_text else self.valence(text, text_mask)  # [B]
        return probabilities, arousal, valence


def _same_weights(one: nn.Module, other: nn.Module) -> bool:
    theirs = other.state_dict()
    return all(name in theirs and torch.equal(value, theirs[name]) for name, value in one.state_dict().items())


def build_graph(bundle: Bundle) -> InferenceGraph:
    """The bundle's three models with their weights, in eval mode.

    The regressors get their own encoders: when fusion fine-tuned its copies, the regression heads
    must still read the encoders they were trained with.
    """
    vocab_size = len(bundle.vocabulary) + 2 if bundle.vocabulary is not None else None
    fusion = build_models(bundle.preset, len(bundle.classes), bundle.text_dim, vocab_size)["fusion"]
    regressors = build_models(bundle.preset, len(bundle.classes), bundle.text_dim, vocab_size)
    probe = None
    if bundle.preset.fusion.probe_ensemble:
        upstream = bundle.preset.audio_features.upstream
        probe = LinearProbe(
            upstream_shape(upstream) if upstream else (0, 0), functionals_dim(bundle.preset), len(bundle.classes)
        )
    graph = InferenceGraph(fusion, regressors["arousal"], regressors["valence"], probe=probe)
    for name, model in (
        ("fusion", fusion),
        ("arousal", graph.arousal),
        ("valence", graph.valence),
        *((("probe", probe),) if probe is not None else ()),
    ):
        try:
            model.load_state_dict(bundle.weights(name))
        except RuntimeError as error:
            first = str(error).splitlines()[0]
            raise VamerError(
                f"bundle {bundle.folder}: {name}.safetensors does not fit the bundle's preset ({first})"
            ) from None
    graph.shared_audio = _same_weights(fusion.audio, graph.arousal.encoder)
    graph.shared_text = _same_weights(fusion.text, graph.valence.encoder)
    return graph.eval()

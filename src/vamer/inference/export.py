"""ONNX export of a bundle's inference graph, and onnxruntime dynamic int8 quantisation.

The graph (:mod:`vamer.inference.graph`) is exported with a dynamic batch and dynamic lengths:
``[B, 2, T, n_mels]`` audio with ``8 <= T <= max_frames`` and ``8 <= L <= max_length`` tokens, so the
ONNX engine runs batches trimmed to their longest clip and text, as the torch engine does (a graph
of fixed full lengths computed 4x the FLOPs of a 7.5 s clip).  The models ignore padding, so any
length holding the valid frames gives the same outputs.  The file carries the vamer version, a
fingerprint of the bundle (the SHA-256 of its ``SHA256SUMS``: every file of it) and the SHA-256 of
its own graph; the ONNX engine (:mod:`vamer.inference.engines`) refuses a file exported from another
bundle or edited since.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vamer
from vamer.errors import VamerError
from vamer.features.inputs import TRIM_MULTIPLE
from vamer.features.upstream import upstream_shape
from vamer.fileio import clean_stale_scratch, output_lock, record_written, refuse_overwrite
from vamer.inference.bundle import Bundle
from vamer.inference.engines import bundle_fingerprint, graph_sha256, onnx_session
from vamer.inference.graph import OUTPUTS, build_graph, graph_inputs
from vamer.presets import functionals_dim

OPSET = 18


def example_inputs(bundle: Bundle, batch: int = 2) -> dict[str, torch.Tensor]:
    """Full-length inputs of the exported graph (random values, every position valid but the
    second row's second half, so masking is part of the trace)."""
    audio_config, length = bundle.preset.audio_features, bundle.preset.text.max_length
    frames = audio_config.max_frames
    generator = torch.Generator().manual_seed(0)
    audio = torch.randn(batch, 2, frames, audio_config.n_mels, generator=generator)
    audio_mask = torch.ones(batch, frames, dtype=torch.bool)
    audio_mask[1:, frames // 2 :] = False
    if bundle.text_dim is None:
        vocab = len(bundle.vocabulary or {}) + 2
        text = torch.randint(2, max(vocab, 3), (batch, length), generator=generator)
    else:
        text = torch.randn(batch, length, bundle.text_dim, generator=generator)
    text_mask = torch.ones(batch, length, dtype=torch.bool)
    text_mask[1:, length // 2 :] = False
    inputs = {"audio": audio, "audio_mask": audio_mask, "text": text, "text_mask": text_mask}
    if "functionals" in graph_inputs(bundle):
        inputs["functionals"] = torch.randn(batch, functionals_dim(bundle.preset), generator=generator)
    if "upstream" in graph_inputs(bundle):
        inputs["upstream"] = torch.randn(
            batch, *upstream_shape(bundle.preset.audio_features.upstream), generator=generator
        )
    return inputs


def export_onnx(bundle: Bundle, out: str | Path, int8: bool = False, force: bool = False) -> dict[str, Any]:
    """Write the bundle's graph to ``out`` (fp32, or dynamically quantised to int8).  Returns what
    was written: path, size, fingerprint, and the fp32 parity on the example inputs.  ``out``'s lock
    is held throughout, and the work happens in ``.NAME.export`` beside it (removed afterwards, or by
    the next export when a kill left it)."""
    out = Path(out)
    refuse_overwrite(out, force)
    if out.suffix != ".onnx":
        raise VamerError(f"{out}: the ONNX file name must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = build_graph(bundle)
    inputs = _on_the_training_scale(graph, example_inputs(bundle))
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames = torch.export.Dim("frames", min=TRIM_MULTIPLE, max=bundle.preset.audio_features.max_frames)
    tokens = torch.export.Dim("tokens", min=TRIM_MULTIPLE, max=bundle.preset.text.max_length)
    lengths = {"audio": {2: frames}, "audio_mask": {1: frames}, "text": {1: tokens}, "text_mask": {1: tokens}}
    with output_lock(out), _quiet():
        clean_stale_scratch(out)
        scratch = out.parent / f".{out.name}.export"
        scratch.mkdir()
        try:
            written = _export(bundle, graph, inputs, scratch, out, int8, batch, lengths)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    record_written(out)
    return written


def _export(
    bundle: Bundle,
    graph: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    scratch: Path,
    out: Path,
    int8: bool,
    batch,
    lengths: dict,
) -> dict[str, Any]:
    """The export itself, inside ``scratch``; the finished file is moved to ``out``."""
    import onnx

    fastpath = torch.backends.mha.get_fastpath_enabled()
    # The fused attention kernel has no ONNX translation; the plain path computes the same.
    torch.backends.mha.set_fastpath_enabled(False)
    raw = Path(scratch) / "graph.onnx"
    try:
        names = graph_inputs(bundle)
        torch.onnx.export(
            graph,
            (),
            str(raw),
            kwargs=inputs,
            input_names=list(names),
            output_names=list(OUTPUTS),
            dynamic_shapes={name: {0: batch, **lengths.get(name, {})} for name in names},
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    model = onnx.load(str(raw))  # pulls in external weight data, if the exporter split it out
    fingerprint = bundle_fingerprint(bundle)
    metadata = {
        "vamer_version": vamer.__version__,
        "bundle_fingerprint": fingerprint,
        "classes": ",".join(bundle.classes),
        "precision": "int8" if int8 else "fp32",
        "dynamic_lengths": "1",
    }
    fp32 = Path(scratch) / "fp32.onnx"
    onnx.save(model, str(fp32))
    final = fp32
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        final = Path(scratch) / "int8.onnx"
        quantize_dynamic(str(fp32), str(final), weight_type=QuantType.QInt8)
    # The metadata goes on last, with the hash of the graph as it is finally written.
    stamped = onnx.load(str(final))
    stamp(stamped, {**metadata, "graph_sha256": graph_sha256(stamped)})
    onnx.save(stamped, str(final))
    parity = _parity(graph, inputs, onnx_session(final))
    os.replace(final, out)
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        "precision": metadata["precision"],
        "fingerprint": fingerprint,
        "max_abs_diff_probabilities": parity,
    }


def stamp(model, metadata: dict[str, str]) -> None:
    """Set ``metadata`` on an ONNX model, replacing entries of the same keys."""
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    for key, value in [*kept, *metadata.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _on_the_training_scale(graph: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Clip-level example inputs moved to the training split's scale (the encoder's standardisation
    buffers), so the parity check compares probabilities the model really produces: standard normal
    values far off that scale saturate the softmax, and saturated outputs agree whatever the graph."""
    encoder = graph.fusion.audio
    scaled = dict(inputs)
    for name in ("functionals", "upstream"):
        if name in scaled and hasattr(encoder, f"{name}_mean"):
            scaled[name] = getattr(encoder, f"{name}_mean") + getattr(encoder, f"{name}_std") * scaled[name]
    return scaled


@contextmanager
def _quiet():
    """The exporter and the quantiser log internals (skipped torchvision ops, shape inference
    notes) that say nothing about the user's model; keep them out of the user's terminal."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir", "")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _parity(graph: torch.nn.Module, inputs: dict[str, torch.Tensor], session) -> float:
    """Largest probability difference between torch and onnxruntime on the full-length example
    inputs and on the same inputs cut to a shorter length (the dynamic axes)."""
    short = {name: _cut(name, value) for name, value in inputs.items()}
    worst = 0.0
    for batch in (inputs, short):
        with torch.inference_mode():
            expected = graph(**batch)[0].numpy()
        got = session.run(["probabilities"], {name: value.numpy() for name, value in batch.items()})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
    return worst


def _cut(name: str, value: torch.Tensor) -> torch.Tensor:
    """Example input ``name`` cut to a quarter of its frames or tokens (at least 8)."""
    axis = {"audio": 2, "audio_mask": 1, "text": 1, "text_mask": 1}.get(name)
    if axis is None:
        return value
    length = max(TRIM_MULTIPLE, value.shape[axis] // 4 // TRIM_MULTIPLE * TRIM_MULTIPLE)
    return value.narrow(axis, 0, length)

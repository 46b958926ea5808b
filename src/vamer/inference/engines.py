"""The engines a predictor runs a batch through: PyTorch (any device) or onnxruntime (CPU).

Both take a batch of :func:`vamer.features.inputs.stack_batch` arrays and return the graph's
outputs (:data:`vamer.inference.graph.OUTPUTS`) as numpy arrays.  Both take batches trimmed to
their longest clip and text (the exported graph's frame and token axes are dynamic).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

import vamer
from vamer.errors import VamerError
from vamer.inference.bundle import Bundle
from vamer.inference.graph import OUTPUTS, build_graph, graph_inputs


def bundle_fingerprint(bundle: Bundle) -> str:
    """Which bundle an ONNX file was exported from: the SHA-256 of its ``SHA256SUMS``, so every file
    counts (the weights, and ``bundle.json`` with the classes, the preprocessing and the frozen speech
    encoder it names)."""
    return bundle.fingerprint


def graph_sha256(model) -> str:
    """SHA-256 of an ONNX model's graph (its operators and weights), which its metadata does not
    cover: recorded at export and checked on load, so a graph edited or swapped after export is
    refused even when its metadata was copied over."""
    return hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()


def onnx_session(path: str | Path, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # Idle worker threads would otherwise spin after each run and slow the preprocessing of the
    # next request, which shares the same cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors for unreadable models
        raise VamerError(f"{path}: not a loadable ONNX model ({str(error).splitlines()[0]})") from None


def check_onnx(session, bundle: Bundle, path: str | Path) -> None:
    """Refuse an ONNX file exported from another bundle or another vamer version, or whose graph
    changed after export."""
    import onnx

    metadata = session.get_modelmeta().custom_metadata_map
    if metadata.get("bundle_fingerprint") != bundle_fingerprint(bundle):
        raise VamerError(
            f"{path} was not exported from the bundle {bundle.folder} (its weights differ); "
            f"export it again with `vamer export`"
        )
    if metadata.get("dynamic_lengths") != "1" or metadata.get("vamer_version") != vamer.__version__:
        raise VamerError(
            f"{path} was exported by vamer {metadata.get('vamer_version')}; this is vamer "
            f"{vamer.__version__}: export it again"
        )
    if metadata.get("graph_sha256") != graph_sha256(onnx.load(str(path))):
        raise VamerError(
            f"{path}: its graph was changed after `vamer export` wrote it (its SHA-256 is not the one "
            "its metadata records); export it again"
        )


class TorchEngine:
    name = "torch"

    def __init__(self, bundle: Bundle, threads: int | None = None, device: str = "cpu") -> None:
        if threads:
            torch.set_num_threads(threads)  # process-wide: PyTorch has one intra-op setting
        self.device = torch.device(device)
        self.graph = build_graph(bundle).to(self.device)
        self.inputs = graph_inputs(bundle)

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = self.graph(**{name: torch.from_numpy(inputs[name]).to(self.device) for name in self.inputs})
        return {name: value.cpu().numpy() for name, value in zip(OUTPUTS, outputs)}


class OnnxEngine:
    """The exported graph under onnxruntime; its frame and token axes are dynamic, so it takes
    batches trimmed to their longest clip and text, as the torch engine does."""

    name = "onnx"

    def __init__(self, bundle: Bundle, path: str | Path, threads: int | None = None) -> None:
        self.session = onnx_session(path, threads)
        check_onnx(self.session, bundle, path)
        self.inputs = graph_inputs(bundle)

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(list(OUTPUTS), {name: inputs[name] for name in self.inputs})
        return dict(zip(OUTPUTS, outputs))


def make_engine(
    bundle: Bundle,
    engine: str = "torch",
    onnx_path: str | Path | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> TorchEngine | OnnxEngine:
    """The named engine over ``bundle``; a device or file that cannot serve it is a VamerError."""
    if device != "cpu" and engine != "torch":
        raise VamerError(f"--device {device} needs --engine torch (the ONNX engine runs on the CPU)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VamerError(f"--device {device}: this machine has no CUDA GPU that PyTorch can use")
    if device == "mps" and not torch.backends.mps.is_available():
        raise VamerError("--device mps: Apple's Metal backend is not available here")
    if engine == "torch":
        try:
            return TorchEngine(bundle, threads, device)
        except RuntimeError as error:  # e.g. an unknown device string
            raise VamerError(f"--device {device}: {error}") from None
    if engine == "onnx":
        path = Path(onnx_path) if onnx_path else bundle.folder / "model.onnx"
        if not path.is_file():
            raise VamerError(f"no ONNX model at {path}: run `vamer export --bundle {bundle.folder} --onnx {path}`")
        return OnnxEngine(bundle, path, threads)
    raise VamerError(f"unknown engine {engine!r}: use torch or onnx")

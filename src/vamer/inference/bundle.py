"""The model bundle: one folder holding everything ``predict`` needs.

    bundle/
      bundle.json          vamer version, preset (architecture + feature settings), classes,
                           text encoder spec, training protocol, which fold/seed the weights are
      arousal.safetensors  audio encoder + arousal head
      valence.safetensors  text encoder + valence head
      fusion.safetensors   the fusion classifier (its encoders included)
      vocabulary.json      piece -> id, for the trainable text encoder only
      metrics.json         the run's metrics
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

import vamer
from vamer.models.presets import Preset

MANIFEST = "bundle.json"


def write_bundle(folder: Path, preset: Preset, classes: list[str], models: dict[str, torch.nn.Module],
                 text_dim: int | None, vocabulary: dict[int, int] | None, metrics: dict[str, Any],
                 provenance: dict[str, Any]) -> None:
    """Write the bundle into ``folder`` (the caller makes the folder atomic)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("arousal", "valence", "fusion"):
        state = {key: value.detach().cpu().contiguous().clone() for key, value in models[name].state_dict().items()}
        save_file(state, str(folder / f"{name}.safetensors"), metadata={"vamer": vamer.__version__})
    manifest = {
        "vamer_version": vamer.__version__, "classes": classes, "label_map": {c: i for i, c in enumerate(classes)},
        "preset": preset.model_dump(mode="json"), "text_encoder": preset.text.encoder, "text_dim": text_dim,
        "preprocessing": {"audio": preset.audio_features.model_dump(mode="json"),
                          "text": preset.text.model_dump(mode="json"),
                          "transcript_cleaning": "vamer.data.transcripts.clean_transcript"},
        "provenance": provenance,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if vocabulary is not None:
        (folder / "vocabulary.json").write_text(json.dumps({str(k): v for k, v in vocabulary.items()}) + "\n",
                                                encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n", encoding="utf-8")

"""What one fold's training is given (:class:`FoldTask`) and what it gives back (:class:`FoldOutcome`),
with the steps every stage of the recipe shares."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vamer.errors import VamerError
from vamer.features.store import FoldData
from vamer.models.probe import LinearProbe
from vamer.presets import Preset
from vamer.presets.build import build_models
from vamer.training.config import Imbalance
from vamer.training.data import clip_statistics, input_scale
from vamer.training.devices import TrainerOptions
from vamer.training.stages import FitOptions, is_global_zero, read_checkpoint


@dataclass(frozen=True)
class FoldTask:
    """One fold's training for one seed: its data, the preset and the classes, where its stages
    write (``out/{stage}``), the text encoder's width (``None``: trainable token ids), the imbalance
    options (``None``: the preset's), whether to report progress, the devices, and whether a stage
    continues from its ``last.ckpt`` (``resume``, ``vamer train`` only)."""

    data: FoldData
    preset: Preset
    classes: list[str]
    out: Path
    seed: int = 0
    text_dim: int | None = None
    imbalance: Imbalance | None = None
    progress: bool = False
    trainer: TrainerOptions = TrainerOptions()
    resume: bool = False

    @property
    def vocab_size(self) -> int | None:
        """The trainable tokens' vocabulary size (``None`` with a frozen text encoder)."""
        return getattr(getattr(self.data.train, "tokens", None), "vocab_size", None)

    @property
    def balance(self) -> Imbalance:
        return self.imbalance or Imbalance.of(self.preset.training)

    def fit_options(self, validate: bool = True) -> FitOptions:
        """How its stages fit: a refit (``validate=False``) never resumes."""
        return FitOptions(
            seed=self.seed,
            resume=self.resume and validate,
            progress=self.progress,
            validate=validate,
            trainer=self.trainer,
        )

    def models(self, seed: int | None = None) -> dict[str, torch.nn.Module]:
        """The preset's three models, freshly initialised from ``seed`` (default: the task's)."""
        torch.manual_seed(self.seed if seed is None else seed)
        return build_models(self.preset, len(self.classes), self.text_dim, self.vocab_size)


@dataclass
class FoldOutcome:
    predictions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # variant -> rows
    regression: dict[str, dict[str, float]] = field(default_factory=dict)
    models: dict[str, torch.nn.Module] = field(default_factory=dict)
    pretrained: dict[str, bool] = field(default_factory=dict)  # stage -> its regressor was trained
    notes: list[str] = field(default_factory=list)
    # variant -> test rows predicted with no statistics of the test speakers (speaker context only)
    without_context: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # with a probe ensemble: "network" (the fusion classifier alone) and "probe" -> test rows
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    probe: LinearProbe | None = None
    probe_on_train: LinearProbe | None = None  # the probe fitted on the training split alone (validation's view)


def scale_inputs(models: dict[str, torch.nn.Module], train, preset: Preset) -> None:
    """Fit the audio input standardisation (when the preset asks for it) and the standardisation of
    the clip functionals and of a frozen encoder's states read side by side (when the encoder reads
    them) on the training split."""
    encoder = models["arousal"].encoder
    if preset.audio_block.standardize_input:
        encoder.set_input_scale(*input_scale(train))
    if encoder.functionals_dim:
        encoder.set_functionals_scale(*clip_statistics(train))
    if encoder.upstream_shape[0] and encoder.upstream_read == "concat":
        encoder.set_upstream_scale(*clip_statistics(train, "upstream"))


def fresh_fusion(task: FoldTask, source: dict[str, torch.nn.Module], pretrained: dict[str, bool]) -> torch.nn.Module:
    """A fusion classifier whose encoders start as ``source``'s regressors' encoders (weights and input
    scale); only the pretrained ones are frozen, and only when the preset freezes encoders."""
    model = task.models()["fusion"]
    model.audio.load_state_dict(source["arousal"].encoder.state_dict())
    model.text.load_state_dict(source["valence"].encoder.state_dict())
    freeze = task.preset.fusion.freeze_encoders
    model.freeze(audio=freeze and pretrained["arousal"], text=freeze and pretrained["valence"])
    return model


def split_truth(split, classes: list[str]) -> dict[str, str]:
    """utt_id -> true class of a split's original rows (a :class:`SplitData`, or a list of items)."""
    if hasattr(split, "rows"):
        rows = split.rows[split.rows["aug_of"].fillna("") == ""] if "aug_of" in split.rows else split.rows
        return dict(zip(rows["utt_id"], rows["emotion"]))
    return {item["utt_id"]: classes[int(item["label"])] for item in split if not item.get("aug_of")}


def clear_steps(out: Path, steps: tuple[str, ...]) -> None:
    """Remove what an interrupted attempt left of ``steps`` (half-written checkpoints and logs), so
    the step trains as it would have the first time."""
    if is_global_zero():
        for step in steps:
            shutil.rmtree(Path(out) / step, ignore_errors=True)


def encoder_weights(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """The encoder part of a regression stage's Lightning checkpoint (keys ``model.encoder.*``)."""
    try:
        state = read_checkpoint(checkpoint)["state_dict"]
    except (KeyError, TypeError) as error:
        raise VamerError(f"{checkpoint}: not a vamer stage checkpoint (no {error})") from None
    prefix = "model.encoder."
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}

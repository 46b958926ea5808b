"""One typed configuration of a training command: :class:`RunConfig`.

``vamer run``, ``sweep``, ``train``, ``baseline`` and ``features`` each build one, once, from the
command line or a replayed ``config.yaml`` (:mod:`vamer.cli.replay`), and take it whole; the
functions below them take the part they need.  It is what the run's resume signature hashes
(:meth:`RunConfig.signature`) and what its ``config.yaml`` records (:meth:`RunConfig.record`).

>>> from vamer.presets import load_preset
>>> config = RunConfig(command="run", dataset=DatasetChoice(path="corpus"), preset=load_preset("tiny"))
>>> config.imbalance.class_weighted, list(config.variants) == ["fusion"], config.trainer.devices
(False, True, 1)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import vamer
from vamer.data.table import LoadResult
from vamer.features.config import AugmentConfig
from vamer.presets import Preset
from vamer.recipe.variants import Variant
from vamer.replay import ResolvedConfig
from vamer.training.config import Imbalance
from vamer.training.devices import TrainerOptions

COMMANDS = ("run", "sweep", "train", "baseline", "features")
# The utterance table's columns whose values decide a run's results (the resume signature hashes them).
DECIDING_COLUMNS = ("utt_id", "audio_path", "text", "emotion", "arousal", "valence", "speaker", "session")


class DatasetChoice(BaseModel):
    """Which corpus, read how: a KEMDy folder or a manifest, its ``format`` (``auto``: from what the
    path holds) and the class set (``None``: KEMDy's five classes, or every label of a manifest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    format: Literal["auto", "kemdy20", "kemdy19", "manifest"] = "auto"
    classes: list[str] | None = None

    def load(self, **settings) -> LoadResult:
        """The corpus (``settings``: the reader's fixed options, such as ``read_bio=False``)."""
        from vamer.data.readers import load

        if self.classes:
            settings["classes"] = list(self.classes)
        return load(self.path, format=self.format, **settings)


class RunConfig(BaseModel):
    """Everything that decides what a training command computes, validated once.

    ``seeds`` is how many training seeds ``run`` and ``sweep`` repeat each fold with; ``seed`` is
    the one seed of ``train``, ``baseline`` and ``features``.  ``variants`` always holds fusion.
    ``options`` is the command line as the command ran with it (given, replayed or defaulted),
    what ``config.yaml`` records for ``--config`` to replay; ``progress`` says whether the command
    reports as it goes."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    command: Literal["run", "sweep", "train", "baseline", "features"]
    dataset: DatasetChoice
    preset: Preset
    cv: str = "session:5"
    seeds: int = Field(1, ge=1)
    seed: int = 0
    augment: AugmentConfig = AugmentConfig(policy="both")  # as `vamer run` balances the training split
    imbalance: Imbalance | None = None  # None: the preset's own choice
    variants: tuple[Variant, ...] = (Variant.fusion,)
    cache: Path | None = None
    trainer: TrainerOptions = TrainerOptions()
    progress: bool = True
    options: dict[str, Any] = {}

    @field_validator("variants")
    @classmethod
    def _fusion_first(cls, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        if Variant.fusion not in variants:
            raise ValueError("the variants of a run must include fusion")
        return variants

    @model_validator(mode="after")
    def _preset_imbalance(self) -> "RunConfig":
        if self.imbalance is None:
            self.imbalance = Imbalance.of(self.preset.training)
        return self

    def record(self) -> ResolvedConfig:
        """What ``config.yaml`` holds: the command, its options (as the command line gave them, or
        spelled from the fields of a config built in Python), the resolved preset, the versions."""
        return ResolvedConfig(command=self.command, options=self.options or self._spelled(), preset=self.preset)

    def _spelled(self) -> dict[str, Any]:
        """The options of ``vamer COMMAND`` that give this config (``--config`` replays them)."""
        dataset = self.dataset
        options: dict[str, Any] = {
            "path": str(dataset.path.absolute()),
            "format": dataset.format,
            "classes": ",".join(dataset.classes) if dataset.classes else None,
            "preset": self.preset.name,
            "cv": self.cv,
            "cache": str(self.cache.absolute()) if self.cache else None,
        }
        if self.command in ("run", "sweep"):
            options |= {"seeds": self.seeds, "augment": self.augment.policy}
        else:
            options["seed"] = self.seed
        if self.command == "train":
            options["augment"] = self.augment.policy
        if self.command == "run":
            options |= {"variants": ",".join(self.variants), **self.imbalance.model_dump()}
        if self.command in ("run", "sweep", "train"):
            options |= {
                name: value if value is None else str(value) if name == "devices" else value
                for name, value in dataclasses.asdict(self.trainer).items()
                if name not in ("max_epochs", "max_batches", "tensorboard")  # the debug profile is no option
            }
        return options

    def signature(self, result: LoadResult) -> str:
        """A hash of everything that decides a run's results: what a resumed run must share with the
        one it continues (the corpus rows read, classes, preset, protocol, seeds, augmentation,
        imbalance options, variants, devices and the vamer version)."""
        table = result.utterances
        rows = [table[column].astype(str).tolist() for column in table.columns if column in DECIDING_COLUMNS]
        settings = {
            "vamer": vamer.__version__,
            "classes": result.classes,
            "rows": rows,
            **self.model_dump(mode="json", include={"preset", "cv", "seeds", "augment", "imbalance", "variants"}),
            "trainer": self.trainer.as_strings(),
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8")).hexdigest()

    def with_layers(self, audio_layers: int, text_layers: int) -> "RunConfig":
        """The same run with the preset's audio and text encoders ``audio_layers`` and ``text_layers``
        deep (one point of ``vamer sweep``), fusion alone, as a ``vamer run``."""
        preset = self.preset
        resized = preset.model_copy(
            update={
                "name": f"{preset.name}-a{audio_layers}-t{text_layers}",
                "audio_block": preset.audio_block.model_copy(update={"layers": audio_layers}),
                "text_block": preset.text_block.model_copy(update={"layers": text_layers}),
            }
        )
        # What `vamer run --config` on the point's folder replays: the sweep's options, fusion alone.
        options = {key: value for key, value in self.options.items() if key != "combos"} | {"variants": "fusion"}
        return self.model_copy(
            update={"command": "run", "preset": resized, "variants": (Variant.fusion,), "options": options}
        )


def run_config(command: str, values: dict[str, Any], preset: Preset, options: dict[str, Any]) -> RunConfig:
    """The RunConfig of ``command`` from its command-line ``values`` (the run options it takes, by
    parameter name: ``path``, ``cv``, ``augment``, ``variants``, the trainer's and the imbalance
    options, ...), the ``preset`` already resolved, and ``options``, what ``config.yaml`` records."""
    from vamer.config import validated
    from vamer.recipe.variants import VARIANTS, parse_variants

    trainer_fields = [field.name for field in dataclasses.fields(TrainerOptions)]
    trainer = {name: values[name] for name in trainer_fields if name in values}
    imbalance = {name: values[name] for name in Imbalance.model_fields if name in values}
    variants = (Variant.fusion,)
    if "ablations" in values:  # vamer run
        variants = parse_variants(values.get("variants")) or (VARIANTS if values["ablations"] else variants)
    classes = values.get("classes")
    return RunConfig(
        command=command,
        dataset=DatasetChoice(
            path=values["path"],
            format=getattr(values.get("format"), "value", values.get("format") or "auto"),
            classes=[name.strip() for name in classes.split(",") if name.strip()] if classes else None,
        ),
        preset=preset,
        cv=values.get("cv", "session:5"),
        seeds=values.get("seeds", 1),
        seed=values.get("seed", 0),
        augment=validated(AugmentConfig, {"policy": values.get("augment", "both")}),
        imbalance=Imbalance.of(preset.training, **imbalance),
        variants=variants,
        cache=values.get("cache"),
        trainer=TrainerOptions.parse(**trainer) if trainer else TrainerOptions(),
        options=options,
    )

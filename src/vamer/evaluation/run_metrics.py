"""``metrics.json`` of ``vamer run`` (:class:`RunMetrics`) and of ``vamer baseline``
(:class:`BaselineMetrics`): one typed definition each.  The command builds its metrics as one
(``as_written()`` is the file), and every reader (``vamer findings``, the report, your own
scripts) validates a file when it reads one.  ``schema_version`` changes whenever a field's meaning does.

A file of another schema version, a missing or extra field, or a value of the wrong type is
refused with the first problem named.

>>> RunMetrics.model_fields["schema_version"].default
1
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from vamer.errors import VamerError

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def as_written(self) -> dict[str, Any]:
        """As ``metrics.json`` holds it and the reports read it: the fields it was built with, each
        figure as it was computed."""
        return self.model_dump(exclude_unset=True)


class MeanStd(_Strict):
    """A figure over folds x seeds."""

    mean: float
    std: float


class ModelSummary(_Strict):
    """One model's figures (a variant or a baseline), each pooled over a fold's whole test split,
    then mean ± std over folds x seeds."""

    macro_f1: MeanStd
    weighted_f1: MeanStd
    ua: MeanStd
    accuracy: MeanStd
    per_class: dict[str, dict[str, Any]]
    runs: int | None = None  # folds x seeds it was trained on (variants)
    absent_classes: list[Any] | None = None  # per run: classes without a test utterance
    chosen: list[dict[str, Any]] | None = None  # the strongest baseline: its pick per fold


class RunProtocol(_Strict):
    """How the numbers were made."""

    cv: str
    description: str
    folds: int
    dataset: str
    synthetic: bool
    utterances: int
    skipped: list[dict[str, Any]]
    preset: str
    audio_encoder: str | None
    augmentation: dict[str, Any]
    imbalance: dict[str, Any]
    ablations: list[str]
    metrics: str
    speaker_context: dict[str, Any] | None = None  # how the frozen inputs were normalised per speaker, in words too
    text_sources: dict[str, int] | None = None  # utterances whose text was given, recognised (asr) or empty


class RunMetrics(_Strict):
    """The whole ``metrics.json``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    generator: str
    vamer_version: str
    macro_f1: MeanStd  # the fused model (the method), as the headline
    weighted_f1: MeanStd
    ua: MeanStd
    accuracy: MeanStd
    per_class: dict[str, dict[str, Any]]
    pooled_over_folds: dict[str, Any]  # every fold's fusion predictions pooled
    ablations: dict[str, ModelSummary]  # variant -> figures (fusion included)
    # With speaker context: the same folds predicted clip by clip with no statistics of the test
    # speakers (the population's instead), what a stranger's single clip gets.
    without_speaker_context: dict[str, ModelSummary] | None = None
    # With a probe ensemble: the fusion classifier alone ("network") and the probe alone ("probe").
    ensemble_members: dict[str, ModelSummary] | None = None
    pretrained: dict[str, bool]  # which encoders' pretraining stages trained
    variant_names: dict[str, str]  # variant -> what it is, in words
    baseline: dict[str, ModelSummary]  # classic baselines, the linear probe, "best"
    majority: dict[str, MeanStd]  # always-majority
    rating_baseline: dict[str, Any]  # ridge regressions of arousal and valence
    regression: dict[str, MeanStd]  # the regressors' test RMSE, CCC and n
    protocol: RunProtocol
    seeds: list[int]
    hardware: dict[str, Any]
    flops_per_utterance: dict[str, Any]
    seconds: float
    timings: dict[str, float]
    notes: list[str]


class BaselineModel(ModelSummary):
    """One baseline of ``vamer baseline``: its figures, each fold's, and its predictions of every
    fold pooled (not for majority)."""

    folds: list[dict[str, Any]]
    pooled_over_folds: dict[str, Any] | None = None


class BaselineProtocol(_Strict):
    cv: str
    description: str
    dataset: str
    preset: str
    audio_encoder: str | None
    utterances: int
    synthetic: bool
    classifier: str
    egemaps_unreadable: list[str]  # utterances openSMILE could not read
    metrics: str


class BaselineMetrics(_Strict):
    """The whole ``metrics.json`` of ``vamer baseline``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    generator: Literal["vamer baseline"] = "vamer baseline"
    vamer_version: str
    protocol: BaselineProtocol
    seeds: list[int]
    classes: list[str]
    folds: int
    skipped: list[dict[str, Any]]
    models: dict[str, BaselineModel]  # majority, each classic feature set, the probe, "best"
    ratings: dict[str, Any]  # ridge regressions of arousal and valence


def read_run_metrics(path: Path) -> dict[str, Any]:
    """A ``metrics.json`` read and validated; a clear error when it is not one vamer wrote."""
    path = Path(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise VamerError(f"{path} cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VamerError(f"{path} is not JSON ({error})") from None
    if isinstance(values, dict) and values.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise VamerError(
            f"{path} has metrics schema {values.get('schema_version')}; this vamer reads schema "
            f"{SCHEMA_VERSION}: read it with the vamer that wrote it ({values.get('vamer_version')})"
        )
    try:
        return RunMetrics.model_validate(values).model_dump()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise VamerError(f"{path} is not the metrics.json of a finished vamer run ({where}: {first['msg']})") from None

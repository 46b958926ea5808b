"""``vamer run``: data -> features -> baselines -> (pretrain x2 -> fusion) per fold and seed ->
metrics -> report -> model bundle.

Outputs in ``out``: ``metrics.json``, ``predictions.csv``, ``report.md`` with its figures,
``bundle/``, ``config.yaml`` (what produced the run; ``--config`` replays it), and
``runs/fold{k}-seed{s}/`` with each stage's checkpoints, logs and journal.

A run reads top to bottom: :func:`run` locks the output and resumes or starts the scratch;
:func:`_run` builds the features, then :func:`_baselines`, :func:`_train_folds`, :func:`_metrics`
and :func:`_write`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import vamer
from vamer.commands.config import RunConfig
from vamer.commands.folds import TrainingInputs, prepare_fold, throwaway_folder, training_inputs
from vamer.data.table import LoadResult
from vamer.errors import VamerError
from vamer.evaluation.baseline import baseline_features, run_baselines, run_rating_baselines
from vamer.evaluation.plots import confusion_figure
from vamer.evaluation.results import Baselines, FoldResults, model_figures
from vamer.evaluation.run_metrics import SCHEMA_VERSION, RunMetrics
from vamer.evaluation.run_report import METRICS_FILE, run_report, text_sources, variant_name
from vamer.features.speakers import context_protocol
from vamer.features.text import UseEncoder
from vamer.fileio import atomic_directory, check_replaceable, resumable_scratch, write_json_atomic
from vamer.inference.bundle import BundleContents, write_bundle
from vamer.presets.build import flops_per_utterance
from vamer.recipe import FoldTask, train_fold
from vamer.training.journal import FoldJournal
from vamer.training.stages import is_global_zero

log = logging.getLogger("vamer.run")


RUN_STATE = "unfinished-run.json"  # in the resumable scratch: the signature of the run it belongs to


def _resumed(scratch: Path, signature: str, resume: bool) -> None:
    """Prepare the resumable scratch for the run ``signature``: continue an unfinished run of the
    same settings, or start afresh.  ``resume`` (``--resume``) insists
    on continuing."""
    state = scratch / RUN_STATE
    try:
        earlier = json.loads(state.read_text(encoding="utf-8")).get("signature")
    except (OSError, ValueError, AttributeError):
        earlier = None
    if earlier == signature:
        finished = len(list(scratch.glob("runs/*/journal/*.json")))
        log.warning("vamer: resuming the unfinished run in %s: %d finished step(s) kept", scratch, finished)
        return
    if resume:
        why = "it holds no unfinished run" if earlier is None else "its unfinished run had other settings"
        raise VamerError(f"--resume: nothing to continue in {scratch} ({why}); run without --resume")
    if any(scratch.iterdir()):
        log.warning("vamer: %s held an unfinished run with other settings; it is discarded", scratch)
        for path in scratch.iterdir():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    write_json_atomic(state, {"signature": signature})


class Stopwatch:
    """Where a run's time went: ``lap(name)`` adds the time since the previous lap to ``name``."""

    def __init__(self) -> None:
        self.started = self.clock = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self.clock
        self.clock = now

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def run(
    config: RunConfig, out: Path, force: bool = False, resume: bool = False, result: LoadResult | None = None
) -> RunMetrics | None:
    """``vamer run`` into ``out`` (on ``result``, or the corpus ``config.dataset`` names).  ``out`` is
    locked from the start; each fold's finished steps are kept in the run's scratch
    (``.OUT.partial``), so a killed run, run again with the same settings (or with ``resume``),
    continues from them and gives the metrics of an uninterrupted run.  ``config`` is written into
    it as ``config.yaml``.  Returns the metrics (``None`` on a DDP rank other than 0)."""
    out = Path(out)
    check_replaceable(out, force, "run")
    plan = RunPlan(config, result or config.dataset.load(read_bio=False))
    if not is_global_zero():
        # Another DDP rank: it only trains, reading rank 0's journal so it skips the same steps.
        with throwaway_folder() as scratch:
            return _run(plan, scratch, resumable_scratch(out))
    with atomic_directory(out, "run", force, resumable=True) as scratch:
        _resumed(scratch, plan.signature, resume)
        config.record().write(scratch)
        metrics = _run(plan, scratch, scratch)
        (scratch / RUN_STATE).unlink()
    return metrics


@dataclass
class RunPlan:
    """One ``vamer run``: its configuration, the corpus it read, and their resume signature."""

    config: RunConfig
    result: LoadResult

    def __post_init__(self) -> None:
        self.signature = self.config.signature(self.result)

    @property
    def classes(self) -> list[str]:
        return self.result.classes


def _run(plan: RunPlan, scratch: Path, journals: Path) -> RunMetrics | None:
    """The run itself, writing into ``scratch`` (each fold's journal lives under ``journals``).
    Every process trains; rank 0 alone (the only process without DDP) measures and writes."""
    watch = Stopwatch()
    zero = is_global_zero()
    inputs = training_inputs(plan.config, plan.result)
    baselines = _baselines(plan, inputs, watch) if zero else None
    results = _train_folds(plan, inputs, journals, watch, report=zero)
    if not zero:
        return None
    metrics = _metrics(plan, inputs, results, baselines, watch)
    _write(plan, inputs, results, metrics, scratch)
    return metrics


def _baselines(plan: RunPlan, inputs: TrainingInputs, watch: Stopwatch) -> Baselines:
    """The baselines every report shows beside the model, on the run's folds and features."""
    store = inputs.store
    functionals, unreadable = store.functionals_matrix(plan.config.progress)
    watch.lap("features")
    # The classic baseline always uses the offline encoder's sentence vectors, whatever the model uses.
    offline = store.encoder if isinstance(store.encoder, UseEncoder) else None
    features = baseline_features(store, offline, functionals, plan.config.preset.audio_features)
    found = Baselines(
        run_baselines(store.table, inputs.folds, features, plan.classes),
        run_rating_baselines(store.table, inputs.folds, features),
        [f"eGeMAPS: {u} could not be read again; zeros in the classic baseline" for u in unreadable],
    )
    watch.lap("classic baselines")
    return found


def _train_folds(plan: RunPlan, inputs: TrainingInputs, journals: Path, watch: Stopwatch, report: bool) -> FoldResults:
    """Every fold x seed: pretraining and each variant (or what the journal holds of them)."""
    config, folds = plan.config, inputs.folds
    results = FoldResults(runs={variant: [] for variant in config.variants})
    for seed in range(config.seeds):
        for fold in folds:
            data = prepare_fold(inputs, fold.index, config.augment, seed)
            name = f"fold{fold.index}-seed{seed}"
            task = FoldTask(
                data,
                config.preset,
                plan.classes,
                journals / "runs" / name,
                seed,
                inputs.text_dim,
                config.imbalance,
                config.progress,
                config.trainer,
            )
            outcome = train_fold(task, config.variants, FoldJournal(journals / "runs" / name, plan.signature))
            if config.progress and report:
                log.warning(
                    "vamer: fold %d, seed %d finished (%d of %d) after %.0f s",
                    fold.index,
                    seed,
                    seed * len(folds) + fold.index + 1,
                    config.seeds * len(folds),
                    watch.seconds,
                )
            results.add(fold.index, seed, outcome, data, plan.classes)
            watch.lap("training")
    return results


def _metrics(
    plan: RunPlan, inputs: TrainingInputs, results: FoldResults, baselines: Baselines, watch: Stopwatch
) -> RunMetrics:
    """The run's metrics, built as :class:`RunMetrics`: every figure pooled over a fold's whole
    test split, then mean ± std over folds x seeds."""
    config, store, folds = plan.config, inputs.store, inputs.folds
    audio = config.preset.audio_features
    protocol = {
        "cv": config.cv,
        "description": folds[0].protocol,
        "folds": len(folds),
        "dataset": plan.result.dataset,
        "synthetic": plan.result.synthetic,
        "utterances": len(store.table),
        "skipped": store.skipped.to_dict("records"),
        "text_sources": text_sources(store.table),
        "preset": config.preset.name,
        "audio_encoder": audio.upstream,
        "augmentation": config.augment.model_dump(),
        "imbalance": config.imbalance.model_dump(),
        "ablations": list(config.variants),
        "speaker_context": context_protocol(audio, results.speaker_fallbacks),
        "metrics": "pooled over each fold's whole test split; mean and std over folds x seeds",
    }
    figures = model_figures(results, baselines, plan.classes, config.variants)
    flops = flops_per_utterance(config.preset, len(plan.classes), inputs.text_dim or 512)
    watch.lap("metrics")  # the report, figure and bundle written next are not timed
    return RunMetrics(
        schema_version=SCHEMA_VERSION,
        generator="vamer run",
        vamer_version=vamer.__version__,
        **figures,
        protocol=protocol,
        seeds=list(range(config.seeds)),
        hardware=config.trainer.describe(),
        flops_per_utterance=flops,
        seconds=watch.seconds,
        timings=watch.timings,
        notes=baselines.notes + results.notes,
    )


def _write(plan: RunPlan, inputs: TrainingInputs, results: FoldResults, metrics: RunMetrics, scratch: Path) -> None:
    """predictions.csv, the confusion figure, report.md, metrics.json and the bundle."""
    classes, figures = plan.classes, metrics.as_written()
    pd.DataFrame(results.predictions).to_csv(scratch / "predictions.csv", index=False)
    confusion_figure(
        figures["pooled_over_folds"]["confusion"],
        classes,
        f"{variant_name('fusion', results.pretrained)}, pooled over folds and seeds",
        scratch / "confusion.png",
    )
    (scratch / "report.md").write_text(run_report(figures, results.class_counts, classes), encoding="utf-8")
    (scratch / METRICS_FILE).write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    contents = BundleContents(
        plan.config.preset,
        classes,
        results.bundle_models,
        inputs.text_dim,
        results.vocabulary,
        results.pretrained,
        results.probe,
        results.context.population if results.context is not None else None,
    )
    provenance = {
        "fold": 0,
        "seed": 0,
        "cv": plan.config.cv,
        "note": "weights of fold 0, seed 0; its test split is that fold's, reported in metrics.json",
    }
    write_bundle(scratch / "bundle", contents, figures, provenance)

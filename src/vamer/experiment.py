"""``vamer run``: data -> features -> (pretrain x2 -> fusion) per fold and seed -> evaluation ->
report -> model bundle.  This module only orchestrates the stages; each lives in its own package.

Outputs in ``out``: ``metrics.json``, ``predictions.csv``, ``report.md`` with its figures,
``bundle/``, ``config.yaml`` (what produced the run; ``--config`` replays it), and
``runs/fold{k}-seed{s}/`` with each stage's checkpoints, logs and journal.

A run reads top to bottom: :func:`run_experiment` locks the output and resumes or starts the
scratch; :func:`_run` builds the features, then :func:`_baselines`, :func:`_train_folds`,
:func:`_aggregate` and :func:`_write`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import vamer
from vamer.data.table import TEXT_SOURCES, LoadResult
from vamer.errors import VamerError
from vamer.evaluation.baseline import PROBE, baseline_features, run_baselines, run_rating_baselines
from vamer.evaluation.plots import confusion_figure
from vamer.evaluation.report import rating_rows
from vamer.evaluation.run_metrics import SCHEMA_VERSION, checked
from vamer.features.config import AugmentConfig
from vamer.features.speakers import context_protocol
from vamer.features.splits import make_folds
from vamer.features.store import FeatureStore, FoldData
from vamer.features.text import TrainableTokens, UseEncoder
from vamer.fileio import atomic_directory, check_replaceable, output_lock, resumable_scratch, write_json_atomic
from vamer.inference.bundle import write_bundle
from vamer.metrics import HEADLINE, aggregate, classification_metrics, mean_std
from vamer.presets import Preset
from vamer.presets.build import flops_per_utterance
from vamer.recipe import VARIANTS, Imbalance, Variant, train_fold, train_single_stage
from vamer.replay import ResolvedConfig
from vamer.training.devices import TrainerOptions
from vamer.training.journal import FoldJournal
from vamer.training.stages import global_rank, is_global_zero

METRICS_FILE = "metrics.json"

log = logging.getLogger("vamer.run")


def variant_name(variant: str, pretrained: dict[str, bool] | None) -> str:
    """What a variant is, in words: an encoder is called pretrained only when its stage trained."""
    pretrained = pretrained or {}
    audio, text = pretrained.get("arousal", False), pretrained.get("valence", False)
    if variant == Variant.fusion_no_pretraining:
        return "fusion without pretraining"
    if variant == Variant.audio_only:
        return "audio only" + (" (arousal-pretrained encoder)" if audio else " (encoder trained in fusion)")
    if variant == Variant.text_only:
        return "text only" + (" (valence-pretrained encoder)" if text else " (encoder trained in fusion)")
    if audio and text:
        return "fusion (pretrained encoders)"
    if audio or text:
        return f"fusion ({'audio' if audio else 'text'} encoder pretrained, the other trained in fusion)"
    return "fusion (no ratings: encoders trained in fusion)"


def baseline_name(name: str, audio_encoder: str | None = None) -> str:
    """A baseline row's name in a report.

    >>> baseline_name("best"), baseline_name("probe", "ge2e")
    ('classic baseline (strongest, chosen on validation)', 'linear probe of the ge2e encoder')
    """
    if name == PROBE:
        return f"linear probe of the {audio_encoder or 'frozen'} encoder"
    return f"classic baseline ({'strongest, chosen on validation' if name == 'best' else name})"


def _summary_row(name: str, numbers: dict[str, Any]) -> dict[str, str]:
    return {"model": name, **{key: mean_std(numbers[key]) for key in HEADLINE}}


@dataclass
class TrainingInputs:
    """What every training command starts from: the features, the folds, and the text encoder's width."""

    store: FeatureStore
    folds: list
    text_dim: int | None


def training_inputs(
    result: LoadResult, preset: Preset, cv: str, cache: Path | None = None, progress: bool = True
) -> TrainingInputs:
    """Features (built once per distributed run, by rank 0) and the ``cv`` folds, as run, sweep and
    train all use them."""
    store = FeatureStore.build(
        result.utterances,
        result.classes,
        preset.audio_features,
        preset.text,
        cache,
        progress=progress and is_global_zero(),
        rank=global_rank(),
    )
    folds = make_folds(store.table, cv)
    text_dim = None if isinstance(store.encoder, TrainableTokens) else store.encoder.dim
    return TrainingInputs(store, folds, text_dim)


def prepare_fold(inputs: TrainingInputs, fold: int, augment: AugmentConfig | None = None, seed: int = 0) -> FoldData:
    """Fold ``fold``'s train (augmented), val and test data for training seed ``seed``: what run,
    sweep and train all train on (the augmentation draws from ``augment.seed + seed``)."""
    if not 0 <= fold < len(inputs.folds):
        raise VamerError(f"--fold {fold}: the --cv spelling has {len(inputs.folds)} fold(s)")
    augment = augment or AugmentConfig()
    return inputs.store.fold_inputs(inputs.folds[fold], augment.model_copy(update={"seed": augment.seed + seed}))


def fold_summaries(
    result: LoadResult, preset: Preset, cv: str, augment: AugmentConfig, cache: Path | None = None
) -> list[str]:
    """``vamer features``: build the preset's cached features (those ``vamer run`` with the preset
    reads), and say what was computed, cached and skipped, then each fold's sizes and class counts
    (before and after augmentation); the leakage check runs on every fold."""
    store = FeatureStore.build(result.utterances, result.classes, preset.audio_features, preset.text, cache_dir=cache)
    audio = store.stats["audio"]
    lines = [
        f"preset {preset.name}: audio features: {audio['computed']} computed, {audio['cached']} from the cache, "
        f"{audio['skipped']} skipped, {audio['cropped_to_max_frames']} cropped, {audio['seconds']:.1f} s; "
        f"{store.stats['empty_text']} utterances with empty text"
        + (
            f"; {len(store.upstream)} with {preset.audio_features.upstream} encoder states"
            if preset.audio_features.upstream
            else ""
        )
    ]
    lines += [f"  skipped {row.utt_id}: {row.reason} ({row.detail})" for row in store.skipped.itertuples()]
    for fold in make_folds(store.table, cv):
        data = store.fold_inputs(fold, augment)
        lines += [
            f"fold {fold.index} [{fold.protocol}]: train {len(data.train)}, val {len(data.val)}, "
            f"test {len(data.test)}; leakage check passed",
            data.class_counts.to_markdown(index=False),
        ]
    return lines


def train_stage(
    result: LoadResult,
    stage: str,
    out: Path,
    preset: Preset,
    cv: str = "session:5",
    fold: int = 0,
    seed: int = 0,
    resume: bool = False,
    arousal: Path | None = None,
    valence: Path | None = None,
    augment: AugmentConfig | None = None,
    cache: Path | None = None,
    config: ResolvedConfig | None = None,
    trainer: TrainerOptions = TrainerOptions(),
) -> dict[str, Any]:
    """``vamer train``: one stage alone on fold ``fold`` of ``cv`` (see :func:`train_single_stage`);
    ``config`` (what produced it) goes into the stage's folder, which is locked while it trains (a
    second ``vamer train`` of the same stage into the same folder is refused at once: two used to
    interleave their metrics and write ``best-v1.ckpt`` beside the first's)."""
    stage_folder = Path(out) / stage
    with output_lock(stage_folder) if is_global_zero() else nullcontext():
        if not resume and stage_folder.exists() and any(stage_folder.iterdir()):
            raise VamerError(
                f"{stage_folder} already holds a trained {stage} stage; pass --resume to continue it, "
                "or choose another --out"
            )
        inputs = training_inputs(result, preset, cv, cache)
        data = prepare_fold(inputs, fold, augment, seed)
        outcome = train_single_stage(
            stage,
            data,
            preset,
            result.classes,
            Path(out),
            seed,
            inputs.text_dim,
            getattr(data.train.tokens, "vocab_size", None),
            resume,
            str(arousal) if arousal else None,
            str(valence) if valence else None,
            trainer=trainer,
        )
        if config is not None and is_global_zero():
            config.write(stage_folder)
    return outcome


@contextmanager
def _throwaway():
    with tempfile.TemporaryDirectory(prefix="vamer-rank-") as folder:
        yield Path(folder)


def run_signature(
    result: LoadResult,
    preset: Preset,
    cv: str,
    seeds: int,
    augment: AugmentConfig,
    imbalance: Imbalance,
    variants: tuple[str, ...],
    trainer: TrainerOptions,
) -> str:
    """A hash of everything that decides a run's results: what a resumed run must share with the
    one it continues (the corpus rows, classes, preset, protocol, seeds, augmentation, imbalance
    options, variants, devices and the vamer version)."""
    table = result.utterances
    rows = [
        table[column].astype(str).tolist()
        for column in table.columns
        if column in ("utt_id", "audio_path", "text", "emotion", "arousal", "valence", "speaker", "session")
    ]
    settings = {
        "vamer": vamer.__version__,
        "classes": result.classes,
        "preset": preset.model_dump(mode="json"),
        "cv": cv,
        "seeds": seeds,
        "augment": augment.model_dump(mode="json"),
        "imbalance": imbalance.__dict__,
        "variants": list(variants),
        "trainer": trainer.as_strings(),
        "rows": rows,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8")).hexdigest()


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


def run_experiment(
    result: LoadResult,
    out: Path,
    preset: Preset,
    cv: str = "session:5",
    seeds: int = 1,
    augment: AugmentConfig | None = None,
    imbalance: Imbalance | None = None,
    ablations: bool = True,
    cache: Path | None = None,
    force: bool = False,
    progress: bool = True,
    variants: tuple[str, ...] | None = None,
    resume: bool = False,
    config: ResolvedConfig | None = None,
    trainer: TrainerOptions = TrainerOptions(),
) -> dict[str, Any]:
    """``vamer run``.  ``out`` is locked from the start; each fold's finished steps are kept in the
    run's scratch (``.OUT.partial``), so a killed run, run again with the same settings (or with
    ``resume``), continues from them and gives the metrics of an uninterrupted run.  ``config``
    (what produced the run, :mod:`vamer.replay`) is written into it as ``config.yaml``."""
    out = Path(out)
    check_replaceable(out, force, "run")
    augment = augment or AugmentConfig()
    imbalance = imbalance or Imbalance.of(preset)
    variants = variants or (VARIANTS if ablations else ("fusion",))
    if "fusion" not in variants:
        raise ValueError("the variants of a run must include fusion")
    signature = run_signature(result, preset, cv, seeds, augment, imbalance, variants, trainer)
    plan = RunPlan(result, preset, cv, seeds, augment, imbalance, variants, cache, progress, trainer, signature)
    if not is_global_zero():
        # Another DDP rank: it only trains, reading rank 0's journal so it skips the same steps.
        with _throwaway() as scratch:
            return _run(plan, scratch, resumable_scratch(out))
    with atomic_directory(out, "run", force, resumable=True) as scratch:
        _resumed(scratch, signature, resume)
        if config is not None:
            config.write(scratch)
        metrics = _run(plan, scratch, scratch)
        (scratch / RUN_STATE).unlink()
    return metrics


@dataclass
class RunPlan:
    """What one ``vamer run`` does: the corpus, the settings, and the devices (``trainer``)."""

    result: LoadResult
    preset: Preset
    cv: str
    seeds: int
    augment: AugmentConfig
    imbalance: Imbalance
    variants: tuple[str, ...]
    cache: Path | None
    progress: bool
    trainer: TrainerOptions
    signature: str

    @property
    def classes(self) -> list[str]:
        return self.result.classes


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


@dataclass
class Baselines:
    """The classic, probe, majority and rating baselines of a run, on its folds (rank 0 only)."""

    classes: dict[str, Any]
    ratings: dict[str, Any]
    notes: list[str]


@dataclass
class FoldResults:
    """Every fold x seed's outcome, gathered for the metrics, the predictions and the bundle."""

    runs: dict[str, list] = field(default_factory=dict)  # variant -> per-run metrics
    regression: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bundle_models: dict[str, Any] | None = None  # fold 0, seed 0's models
    vocabulary: dict | None = None
    class_counts: pd.DataFrame | None = None
    pretrained: dict[str, bool] | None = None
    without_context: dict[str, list] = field(default_factory=dict)  # variant -> per-run metrics, no speaker context
    members: dict[str, list] = field(default_factory=dict)  # ensemble member -> per-run metrics
    probe: Any = None  # fold 0, seed 0's ensemble probe
    context: Any = None  # fold 0's speaker context (its population)
    speaker_fallbacks: dict[str, Any] | None = None

    def add(self, fold: int, seed: int, outcome, data: FoldData, classes: list[str]) -> None:
        self.notes.extend(f"fold {fold}, seed {seed}: {note}" for note in outcome.notes)
        self.regression.append(
            {"fold": fold, "seed": seed, **{f"{k}_{m}": v for k, r in outcome.regression.items() for m, v in r.items()}}
        )
        for variant, rows in outcome.predictions.items():
            scored = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], classes)
            self.runs.setdefault(variant, []).append(scored)
            if variant == Variant.fusion and scored["absent_classes"]:
                self.notes.append(
                    f"fold {fold}, seed {seed}: no test utterance of "
                    f"{', '.join(scored['absent_classes'])}; left out of that fold's macro F1 and UA "
                    "(every model's alike)"
                )
            self.predictions.extend({"variant": variant, "fold": fold, "seed": seed, **r} for r in rows)
        for variant, rows in outcome.without_context.items():
            scored = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], classes)
            self.without_context.setdefault(variant, []).append(scored)
            self.predictions.extend(
                {"variant": f"{variant} (no speaker context)", "fold": fold, "seed": seed, **r} for r in rows
            )
        for member, rows in outcome.members.items():
            scored = classification_metrics([r["true"] for r in rows], [r["pred"] for r in rows], classes)
            self.members.setdefault(member, []).append(scored)
            self.predictions.extend(
                {"variant": f"ensemble member: {member}", "fold": fold, "seed": seed, **r} for r in rows
            )
        if self.bundle_models is None:
            self.probe, self.context = outcome.probe, data.context
            self.speaker_fallbacks = data.context.fallbacks() if data.context is not None else None
            self.bundle_models = {name: outcome.models[name] for name in ("arousal", "valence", "fusion")}
            self.vocabulary = getattr(data.train.tokens, "vocabulary", None)
            self.pretrained = outcome.pretrained
            self.class_counts = data.class_counts


def _run(plan: RunPlan, scratch: Path, journals: Path) -> dict[str, Any]:
    """The run itself, writing into ``scratch`` (each fold's journal lives under ``journals``).
    Every process trains; rank 0 alone (the only process without DDP) measures and writes."""
    watch = Stopwatch()
    zero = is_global_zero()
    inputs = training_inputs(plan.result, plan.preset, plan.cv, plan.cache, plan.progress)
    baselines = _baselines(plan, inputs, watch) if zero else None
    results = _train_folds(plan, inputs, scratch, journals, watch, report=zero)
    if not zero:
        return {}
    metrics = _aggregate(plan, inputs, results, baselines, watch)
    _write(plan, inputs, results, metrics, scratch)
    return metrics


def _baselines(plan: RunPlan, inputs: TrainingInputs, watch: Stopwatch) -> Baselines:
    """The baselines every report shows beside the model, on the run's folds and features."""
    store = inputs.store
    functionals, unreadable = store.functionals_matrix(plan.progress)
    watch.lap("features")
    # The classic baseline always uses the offline encoder's sentence vectors, whatever the model uses.
    offline = store.encoder if isinstance(store.encoder, UseEncoder) else None
    audio = plan.preset.audio_features
    features = baseline_features(
        store.table,
        store.mels,
        offline,
        functionals,
        store.upstream,
        audio.speaker_norm,
        audio.speaker_min_clips,
        audio.speaker_prior_clips,
    )
    found = Baselines(
        run_baselines(store.table, inputs.folds, features, plan.classes),
        run_rating_baselines(store.table, inputs.folds, features),
        [f"eGeMAPS: {u} could not be read again; zeros in the classic baseline" for u in unreadable],
    )
    watch.lap("classic baselines")
    return found


def _train_folds(
    plan: RunPlan, inputs: TrainingInputs, scratch: Path, journals: Path, watch: Stopwatch, report: bool
) -> FoldResults:
    """Every fold x seed: pretraining and each variant (or what the journal holds of them)."""
    results = FoldResults(runs={variant: [] for variant in plan.variants})
    folds = inputs.folds
    for seed in range(plan.seeds):
        for fold in folds:
            data = prepare_fold(inputs, fold.index, plan.augment, seed)
            name = f"fold{fold.index}-seed{seed}"
            outcome = train_fold(
                data,
                plan.preset,
                plan.classes,
                scratch / "runs" / name,
                seed,
                inputs.text_dim,
                getattr(data.train.tokens, "vocab_size", None),
                plan.imbalance,
                plan.variants,
                progress=plan.progress,
                journal=FoldJournal(journals / "runs" / name, plan.signature),
                trainer=plan.trainer,
            )
            if plan.progress and report:
                log.warning(
                    "vamer: fold %d, seed %d finished (%d of %d) after %.0f s",
                    fold.index,
                    seed,
                    seed * len(folds) + fold.index + 1,
                    plan.seeds * len(folds),
                    watch.seconds,
                )
            results.add(fold.index, seed, outcome, data, plan.classes)
            watch.lap("training")
    return results


def _aggregate(
    plan: RunPlan, inputs: TrainingInputs, results: FoldResults, baselines: Baselines, watch: Stopwatch
) -> dict[str, Any]:
    """The run's metrics (:class:`vamer.evaluation.run_metrics.RunMetrics`): every figure pooled over
    a fold's whole test split, then mean ± std over folds x seeds."""
    classes, store, folds, pretrained = plan.classes, inputs.store, inputs.folds, results.pretrained
    frame = pd.DataFrame(results.predictions)
    metrics: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": "vamer run",
        "vamer_version": vamer.__version__,
    }
    main = aggregate(results.runs["fusion"], classes)
    metrics.update({key: main[key] for key in HEADLINE})
    metrics["per_class"] = main["per_class"]
    fusion_rows = frame[frame["variant"] == "fusion"]
    metrics["pooled_over_folds"] = classification_metrics(list(fusion_rows["true"]), list(fusion_rows["pred"]), classes)
    metrics["ablations"] = {
        variant: aggregate(results.runs[variant], classes) for variant in plan.variants if results.runs[variant]
    }
    metrics["without_speaker_context"] = {
        variant: aggregate(runs, classes) for variant, runs in results.without_context.items()
    } or None
    metrics["ensemble_members"] = {member: aggregate(runs, classes) for member, runs in results.members.items()} or None
    metrics["pretrained"] = pretrained
    metrics["variant_names"] = {variant: variant_name(variant, pretrained) for variant in metrics["ablations"]}
    found = baselines.classes
    metrics["baseline"] = {
        name: {key: found[name][key] for key in (*HEADLINE, "per_class")} for name in found if name != "majority"
    }
    metrics["baseline"]["best"]["chosen"] = found["best"]["chosen"]
    metrics["majority"] = {key: found["majority"][key] for key in HEADLINE}
    metrics["rating_baseline"] = baselines.ratings
    reg = pd.DataFrame(results.regression)
    metrics["regression"] = {
        column: {"mean": float(reg[column].mean()), "std": float(reg[column].std(ddof=0))}
        for column in reg.columns
        if column not in ("fold", "seed")
    }
    audio = plan.preset.audio_features
    metrics["protocol"] = {
        "cv": plan.cv,
        "description": folds[0].protocol,
        "folds": len(folds),
        "dataset": plan.result.dataset,
        "synthetic": plan.result.synthetic,
        "utterances": len(store.table),
        "skipped": store.skipped.to_dict("records"),
        "text_sources": text_sources(store.table),
        "preset": plan.preset.name,
        "audio_encoder": plan.preset.audio_features.upstream,
        "augmentation": plan.augment.model_dump(),
        "imbalance": plan.imbalance.__dict__,
        "ablations": list(plan.variants),
        "speaker_context": context_protocol(
            audio.speaker_norm,
            audio.speaker_min_clips,
            audio.context_dropout,
            results.speaker_fallbacks,
            audio.speaker_prior_clips,
        ),
        "metrics": "pooled over each fold's whole test split; mean and std over folds x seeds",
    }
    metrics["seeds"] = list(range(plan.seeds))
    metrics["hardware"] = plan.trainer.describe()
    metrics["flops_per_utterance"] = flops_per_utterance(plan.preset, len(classes), inputs.text_dim or 512)
    watch.lap("metrics")  # the report, figure and bundle written next are not timed
    metrics["seconds"] = watch.seconds
    metrics["timings"] = watch.timings
    metrics["notes"] = baselines.notes + results.notes
    return metrics


def _write(plan: RunPlan, inputs: TrainingInputs, results: FoldResults, metrics: dict[str, Any], scratch: Path) -> None:
    """predictions.csv, the confusion figure, report.md, metrics.json (validated) and the bundle."""
    classes = plan.classes
    pd.DataFrame(results.predictions).to_csv(scratch / "predictions.csv", index=False)
    confusion_figure(
        metrics["pooled_over_folds"]["confusion"],
        classes,
        f"{variant_name('fusion', results.pretrained)}, pooled over folds and seeds",
        scratch / "confusion.png",
    )
    (scratch / "report.md").write_text(_report(metrics, results.class_counts, classes), encoding="utf-8")
    (scratch / METRICS_FILE).write_text(json.dumps(checked(metrics), indent=2, default=str) + "\n", encoding="utf-8")
    write_bundle(
        scratch / "bundle",
        plan.preset,
        classes,
        results.bundle_models,
        inputs.text_dim,
        results.vocabulary,
        metrics,
        {
            "fold": 0,
            "seed": 0,
            "cv": plan.cv,
            "note": "weights of fold 0, seed 0; its test split is that fold's, reported in metrics.json",
        },
        results.pretrained,
        probe=results.probe,
        population=results.context.population if results.context is not None else None,
    )


def read_findings(run: Path) -> list[str]:
    """``vamer findings RUN``: the findings of a finished run folder, its ``metrics.json`` validated."""
    from vamer.evaluation.run_metrics import read_run_metrics
    from vamer.fileio import read_output_marker

    marker = read_output_marker(run)
    if marker is None or marker["command"] != "run":
        raise VamerError(f"{run} is not a vamer run folder (it was not written by `vamer run`)")
    return findings(read_run_metrics(Path(run) / METRICS_FILE))


def _versus(ours: float, name: str, theirs: float) -> str:
    return f"{'above' if ours > theirs else 'NOT above'} {name} ({theirs:.3f}, {ours - theirs:+.3f})"


def findings(metrics: dict[str, Any]) -> list[str]:
    """What a run found, in words: the fused model against each modality alone, without
    pretraining, the strongest classic baseline and always-majority; then the two regressors
    against a ridge regression on the same folds."""
    ablations, names = metrics["ablations"], metrics["variant_names"]
    ours = metrics["macro_f1"]
    p = metrics["protocol"]
    lines = [
        f"{names['fusion']}: macro F1 {mean_std(ours)} (UA {mean_std(metrics['ua'])}) over "
        f"{p['folds']} folds ({p['description']}) x seeds {metrics['seeds']}."
    ]
    mine = ours["mean"]
    others = [_versus(mine, names[v], ablations[v]["macro_f1"]["mean"]) for v in ablations if v != "fusion"]
    others.append(
        _versus(
            mine,
            "the strongest classic baseline, chosen on validation",
            metrics["baseline"]["best"]["macro_f1"]["mean"],
        )
    )
    others.append(_versus(mine, "always-majority", metrics["majority"]["macro_f1"]["mean"]))
    lines.append("It is " + "; ".join(others) + ".")
    probe = metrics["baseline"].get(PROBE)
    if probe:
        encoder = metrics["protocol"].get("audio_encoder") or "frozen"
        theirs = probe["macro_f1"]["mean"]
        winner = (
            "the network wins"
            if mine > theirs
            else "the linear probe wins: the network does not beat a linear model of its own pretrained input"
        )
        lines.append(
            f"Linear probe of the {encoder} audio encoder (logistic regression on its pooled states, C "
            f"chosen on validation): macro F1 {mean_std(probe['macro_f1'])}, UA {mean_std(probe['ua'])}; "
            f"{winner} ({mine - theirs:+.3f} macro F1, {metrics['ua']['mean'] - probe['ua']['mean']:+.3f} UA)."
        )
    members = metrics.get("ensemble_members") or {}
    if members:
        figures = {
            "the ensemble": metrics["ua"]["mean"],
            **{f"the {'network' if m == 'network' else 'probe'} alone": v["ua"]["mean"] for m, v in members.items()},
        }
        won = max(figures, key=figures.get)
        lines.append(
            "Fusion is an ensemble (the fusion network's and a linear probe's probabilities averaged): UA "
            + ", ".join(f"{name} {value:.3f}" for name, value in figures.items())
            + f"; {won} wins."
        )
    alone = (metrics.get("without_speaker_context") or {}).get("fusion")
    if alone:
        lines.append(
            f"Without speaker context (each test clip alone, the population's statistics): {names['fusion']} "
            f"UA {mean_std(alone['ua'])}, macro F1 {mean_std(alone['macro_f1'])}, against UA "
            f"{metrics['ua']['mean']:.3f} with the test speakers' statistics (transductive)."
        )
    spread = max([ours["std"], *(ablations[v]["macro_f1"]["std"] for v in ablations)])
    close = [names[v] for v in ablations if v != "fusion" and abs(mine - ablations[v]["macro_f1"]["mean"]) < spread]
    if close:
        lines.append(
            f"Gaps smaller than the spread over folds (± {spread:.3f}) cannot be told apart: {', '.join(close)}."
        )
    regression, ridge = metrics.get("regression", {}), metrics.get("rating_baseline", {})
    for stage, modality, features in (("arousal", "audio", "egemaps"), ("valence", "text", "text")):
        if f"{stage}_ccc" not in regression:
            continue
        line = f"{stage.capitalize()} regressor ({modality}): test CCC {mean_std(regression[f'{stage}_ccc'])}"
        ridge_sets = ridge.get(stage, {})
        reference = features if features in ridge_sets else "audio" if "audio" in ridge_sets else None
        if reference:
            line += f" (ridge regression on {reference} features: {ridge_sets[reference]['ccc']['mean']:.3f})"
        lines.append(line + ".")
    return lines


def text_sources(table: pd.DataFrame) -> dict[str, int]:
    """How many utterances' text was given, recognised (asr) or empty."""
    counts = table["text_source"].value_counts() if "text_source" in table else pd.Series(dtype=int)
    return {source: int(counts.get(source, 0)) for source in TEXT_SOURCES}


def text_line(sources: dict[str, int]) -> str:
    """The report's sentence on where the words came from."""
    line = f"Text: {sources['given']} utterances with the corpus's own transcript"
    if sources["asr"]:
        line += (
            f", {sources['asr']} with words recognised by speech recognition (text_source `asr` in the "
            "manifest `vamer data transcribe` wrote)"
        )
    line += f", {sources['none']} without words (audio only"
    return line + (
        "; `vamer data transcribe` recognises their words into a new manifest)." if sources["none"] else ")."
    )


def _report(metrics: dict[str, Any], class_counts: pd.DataFrame | None, classes: list[str]) -> str:
    p = metrics["protocol"]
    lines = [f"# vamer run: {p['dataset']}", ""]
    if p["synthetic"]:
        lines += ["> **SYNTHETIC demo corpus**: these numbers say nothing about real emotional speech.", ""]
    encoder = f" with the frozen `{p['audio_encoder']}` audio encoder" if p.get("audio_encoder") else ""
    lines += [
        f"Protocol: {p['description']} ({p['folds']} folds) x seeds {metrics['seeds']}; "
        f"preset `{p['preset']}`{encoder}; "
        f"{p['utterances']} utterances ({len(p['skipped'])} skipped at feature extraction); augmentation "
        f"`{p['augmentation']['policy']}`; imbalance options {p['imbalance']}. {p['metrics']}.",
        "",
    ]
    if p.get("text_sources"):
        lines += [text_line(p["text_sources"]), ""]
    if "hardware" in metrics:
        h = metrics["hardware"]
        lines += [
            f"Ran on {h['ran_on']}, {h['processes']} process(es), precision {h['precision']} (asked: "
            f"{', '.join(f'{k} {v}' for k, v in h['requested'].items())}); torch {h['torch']}.",
            "",
        ]
    lines += ["## Findings", ""] + [f"- {line}" for line in findings(metrics)] + [""]
    rows = [_summary_row(metrics["variant_names"][v], metrics["ablations"][v]) for v in metrics["ablations"]]
    rows += [
        _summary_row(baseline_name(name, metrics["protocol"].get("audio_encoder")), numbers)
        for name, numbers in metrics["baseline"].items()
    ]
    rows.append(_summary_row("always majority", metrics["majority"]))
    lines += ["## Results (mean ± std over folds x seeds)", "", pd.DataFrame(rows).to_markdown(index=False), ""]
    context = p.get("speaker_context")
    if context:
        alone = metrics.get("without_speaker_context") or {}
        context_rows = [_summary_row(f"{metrics['variant_names'][v]}, no speaker context", alone[v]) for v in alone]
        member_names = {"network": "fusion network alone", "probe": "linear probe"}
        context_rows += [
            _summary_row(f"ensemble member: {member_names.get(m, m)}", numbers)
            for m, numbers in (metrics.get("ensemble_members") or {}).items()
        ]
        fallbacks = context.get("fallbacks") or {}
        lines += [
            "## Speaker context",
            "",
            context["description"],
            "",
            f"Fold 0: {fallbacks.get('with_statistics', 0)} of {fallbacks.get('speakers', 0)} speakers had "
            f"statistics of their own; {fallbacks.get('too_few_clips', 0)} had fewer than {context['min_clips']} "
            f"clips ({fallbacks.get('clips_of_those', 0)} clips) and {fallbacks.get('clips_without_speaker', 0)} "
            "clips named no speaker: those got the population statistics.",
            "",
        ]
        if context_rows:
            lines += [pd.DataFrame(context_rows).to_markdown(index=False), ""]
    classic = metrics["baseline"]["best"]["macro_f1"]
    best_classic, ours = classic["mean"], metrics["macro_f1"]["mean"]
    verdict = "beats" if ours > best_classic and ours > metrics["majority"]["macro_f1"]["mean"] else "does NOT beat"
    picked = ", ".join(
        f"fold {c['fold']}: {c['features']} (C {c['C']:g})" for c in metrics["baseline"]["best"]["chosen"]
    )
    lines += [
        f"The fused model's macro F1 ({ours:.3f}) {verdict} both the strongest classic baseline "
        f"({best_classic:.3f}; feature set chosen per fold on validation: {picked}) and always-majority "
        f"({metrics['majority']['macro_f1']['mean']:.3f})."
    ]
    spread = max(metrics["macro_f1"]["std"], classic["std"])
    if abs(ours - best_classic) < spread:
        lines += [
            f"The gap to the classic baseline ({ours - best_classic:+.3f}) is smaller than the spread over "
            f"folds x seeds (± {spread:.3f}), so this run cannot tell the two apart; more seeds "
            f"(`--seeds 3`) or more data narrow it."
        ]
    lines += [""]
    per_class = [{"class": c, **{k: mean_std(v) for k, v in metrics["per_class"][c].items()}} for c in classes]
    lines += [
        "## Per class (fusion)",
        "",
        pd.DataFrame(per_class).to_markdown(index=False),
        "",
        "![confusion](confusion.png)",
        "",
    ]
    ratings = rating_rows(metrics.get("rating_baseline", {}), metrics.get("regression", {}))
    if ratings:
        lines += [
            "## Arousal and valence (test split, CCC and RMSE, mean ± std over folds)",
            "",
            "The pretraining regressors next to ridge regressions fitted on the same folds to each classic "
            "feature set (alpha chosen on validation): how much of each rating a linear model finds in "
            "the audio and in the words.",
            "",
            pd.DataFrame(ratings).to_markdown(index=False),
            "",
        ]
    if class_counts is not None:
        lines += [
            "## Class counts before and after augmentation (fold 0, train)",
            "",
            class_counts.to_markdown(index=False),
            "",
        ]
    flops = metrics["flops_per_utterance"]
    lines += [
        f"FLOPs per utterance (forward, full length): arousal {flops['arousal'] / 1e9:.3f} G, valence "
        f"{flops['valence'] / 1e9:.3f} G, fusion {flops['fusion'] / 1e9:.3f} G. Wall time {metrics['seconds']:.0f} s.",
        "",
    ]
    if metrics["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in metrics["notes"]] + [""]
    return "\n".join(lines)


SLIDES_SWEEP = ((6, 6), (7, 6), (7, 5))  # the slides' audio/text layer combinations


def parse_layer_pairs(spec: str) -> list[tuple[int, int]]:
    """``--layers`` of ``vamer sweep``: ``"6/6,7/5"`` -> [(6, 6), (7, 5)] (audio, text layers).

    >>> parse_layer_pairs("6/6, 7/5")
    [(6, 6), (7, 5)]
    """
    problem = VamerError(f"bad --layers {spec!r}; write audio/text pairs like 6/6,7/5")
    try:
        pairs = [tuple(int(n) for n in item.split("/")) for item in spec.split(",") if item.strip()]
    except ValueError:
        raise problem from None
    if not pairs or any(len(pair) != 2 or min(pair) < 1 for pair in pairs):
        raise problem
    return pairs


def sweep_findings(summary: dict[str, Any]) -> list[str]:
    """One line per layer combination of a sweep summary."""
    return [
        f"audio {row['audio_layers']} / text {row['text_layers']}: macro F1 {row['macro_f1']['mean']:.3f}, "
        f"weighted F1 {row['weighted_f1']['mean']:.3f}"
        for row in summary["combinations"]
    ]


def stage_findings(stage: str, outcome: dict[str, Any]) -> list[str]:
    """What ``vamer train`` says about a trained stage: fusion's test metrics and notes, or a
    regressor's best validation RMSE."""
    if stage == "fusion":
        test = outcome["test"]
        return [
            f"fusion test: macro F1 {test['macro_f1']:.3f}, UA {test['ua']:.3f}, weighted F1 "
            f"{test['weighted_f1']:.3f}, accuracy {test['accuracy']:.3f}",
            *(f"note: {note}" for note in outcome["notes"]),
        ]
    lines = [
        f"{stage}: best val RMSE {outcome['best_val_rmse']:.3f} after {outcome['epochs']} epochs; "
        f"checkpoint {outcome['best_checkpoint']}"
    ]
    if outcome.get("test"):
        test = outcome["test"]
        lines.append(f"{stage} test: RMSE {test['rmse']:.3f}, CCC {test['ccc']:.3f} on {test['n']} utterances")
    return lines


def run_sweep(
    result: LoadResult,
    out: Path,
    preset: Preset,
    combos=SLIDES_SWEEP,
    cv: str = "session:5",
    seeds: int = 1,
    augment: AugmentConfig | None = None,
    imbalance: Imbalance | None = None,
    cache: Path | None = None,
    force: bool = False,
    progress: bool = True,
    config: ResolvedConfig | None = None,
    trainer: TrainerOptions = TrainerOptions(),
) -> dict[str, Any]:
    """The slides' layer-count study: one ``vamer run`` (no ablations) per (audio, text) layer
    count, a comparison table, and each combination's confusion matrix; ``config`` is what
    produced it."""
    out = Path(out)
    check_replaceable(out, force, "sweep")
    rows = []
    zero = is_global_zero()
    with atomic_directory(out, "sweep", force) if zero else _throwaway() as scratch:
        if config is not None and zero:
            config.write(scratch)
        for audio_layers, text_layers in combos:
            variant = preset.model_copy(
                update={
                    "name": f"{preset.name}-a{audio_layers}-t{text_layers}",
                    "audio_block": preset.audio_block.model_copy(update={"layers": audio_layers}),
                    "text_block": preset.text_block.model_copy(update={"layers": text_layers}),
                }
            )
            folder = scratch / f"audio{audio_layers}_text{text_layers}"
            metrics = run_experiment(
                result,
                folder,
                variant,
                cv,
                seeds,
                augment,
                imbalance,
                ablations=False,
                cache=cache,
                progress=progress,
                trainer=trainer,
            )
            if not zero:
                continue
            (folder / "confusion.png").rename(scratch / f"confusion_audio{audio_layers}_text{text_layers}.png")
            rows.append(
                {
                    "audio_layers": audio_layers,
                    "text_layers": text_layers,
                    **{key: metrics[key] for key in HEADLINE},
                    "recall": {c: metrics["per_class"][c]["recall"]["mean"] for c in result.classes},
                }
            )
        if not zero:
            return {}
        table = pd.DataFrame(
            [
                {
                    "audio/text layers": f"{r['audio_layers']}/{r['text_layers']}",
                    **{k: mean_std(r[k]) for k in HEADLINE},
                    **{f"recall {c}": f"{v:.2f}" for c, v in r["recall"].items()},
                }
                for r in rows
            ]
        )
        lines = [
            "# Layer-count sweep",
            "",
            f"Protocol: {cv}, seeds {list(range(seeds))}, preset `{preset.name}`, "
            "no ablations; the slides reported weighted F1 6/6 87.54 %, 7/6 87.60 %, 7/5 86.93 % on a random "
            "(speaker-dependent) split.",
            "",
            table.to_markdown(index=False),
            "",
        ]
        lines += [
            f"![{r['audio_layers']}/{r['text_layers']}](confusion_audio{r['audio_layers']}_text{r['text_layers']}.png)"
            for r in rows
        ]
        (scratch / "sweep.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary = {
            "generator": "vamer sweep",
            "protocol": {"cv": cv, "seeds": list(range(seeds)), "preset": preset.name},
            "combinations": rows,
        }
        (scratch / "sweep.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary

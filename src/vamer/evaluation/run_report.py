"""What a run found, in words and tables: ``vamer run``'s ``report.md`` (:func:`run_report`), the
findings it and ``vamer findings`` print (:func:`findings`), and the lines ``vamer train`` and
``vamer sweep`` end with.  Everything here reads a run's metrics (:class:`RunMetrics`, as a
mapping) and writes text; nothing trains or measures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from vamer.data.table import TEXT_SOURCES
from vamer.errors import VamerError
from vamer.evaluation.baseline import PROBE
from vamer.metrics import HEADLINE, mean_std
from vamer.recipe.variants import Variant

METRICS_FILE = "metrics.json"


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


def rating_rows(ridge: dict[str, Any], regression: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Table rows of rating CCC and RMSE: per rating, the network regressor (when ``regression``, as
    ``vamer run`` stores it, has it) and then the ridge regression on each feature set."""
    rows = []
    regression = regression or {}
    for stage, modality in (("arousal", "audio"), ("valence", "text")):
        if f"{stage}_ccc" in regression:
            rows.append(
                {
                    "rating": stage,
                    "model": f"{stage} regressor ({modality} encoder)",
                    "CCC": mean_std(regression[f"{stage}_ccc"]),
                    "RMSE": mean_std(regression[f"{stage}_rmse"]),
                }
            )
        rows += [
            {
                "rating": stage,
                "model": f"ridge on {features}",
                "CCC": mean_std(numbers["ccc"]),
                "RMSE": mean_std(numbers["rmse"]),
            }
            for features, numbers in ridge.get(stage, {}).items()
        ]
    return rows


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


def run_report(metrics: dict[str, Any], class_counts: pd.DataFrame | None, classes: list[str]) -> str:
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

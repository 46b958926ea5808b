"""``vamer analyze``: the method's modality analysis as one report a researcher can read and cite.

Writes into ``out``::

    report.md                 every section below, with its figures
    analysis.json             every number of the report (keys in the README)
    ratings_box.png, ratings_violin.png, bio_coverage.png, bio_timeline.png,
    bio_responses.png, dtw_indices.png, dtw_silhouette.png

Conclusions are derived from the numbers at run time, never written in advance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

import vamer
from vamer.analysis import biosignals, figures
from vamer.analysis.config import AnalysisConfig
from vamer.analysis.dtw import dtw_study, segment_series
from vamer.analysis.ratings import rating_statistics
from vamer.data.table import LoadResult
from vamer.fileio import atomic_directory, check_replaceable
from vamer.progress import tracked

NUMBERS_FILE = "analysis.json"
# The slides' KEMDy20 numbers (DESIGN.md 1), shown beside ours for comparison.
SLIDES = {
    "arousal": {
        "means": {"angry": 3.560, "happy": 3.583, "neutral": 3.213, "sad": 2.939, "surprise": 3.380},
        "bartlett_p": 1.78e-5,
        "levene_p": 1.35e-5,
    },
    "valence": {
        "means": {"angry": 2.212, "happy": 3.824, "neutral": 2.995, "sad": 2.508, "surprise": 3.093},
        "bartlett_p": 9.10e-29,
        "levene_p": 3.85e-23,
        "anova": {"F": 422.26, "ddof1": 4, "ddof2": 245.75, "p": 8.3e-109, "np2": 0.702},
    },
}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:.2e}" if abs(value) < 10**-digits else f"{value:.{digits}f}"
    return str(value)


def _p(value: float) -> str:
    """A p-value for prose; an exact 0 is a floating-point underflow, not certainty."""
    return "< 1e-300" if value == 0 else _fmt(value)


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "_(none)_"
    frame = pd.DataFrame(rows, columns=columns)
    return frame.map(_fmt).to_markdown(index=False)


def _stamped(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as text to the millisecond, for tables and JSON."""
    frame = frame.copy()
    for column in ("start", "end"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    return frame


def _public(value: Any) -> Any:
    """Drop the private ``_plot`` entries before JSON."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def _ratings_section(result: LoadResult, config: AnalysisConfig, out: Path, doc: list[str]) -> dict[str, Any]:
    utterances, classes = result.utterances, result.classes
    numbers: dict[str, Any] = {}
    doc.append("## 1. Arousal and valence against emotion\n")
    if utterances[["arousal", "valence"]].isna().all().all():
        note = "skipped: the dataset has no arousal or valence ratings"
        doc.append(f"_{note}._\n")
        return {"skipped": note}
    figures.ratings_by_class(utterances, classes, "box", out / "ratings_box.png")
    figures.ratings_by_class(utterances, classes, "violin", out / "ratings_violin.png")
    doc.append("![box plots](ratings_box.png)\n\n![violin plots](ratings_violin.png)\n")
    for rating in ("arousal", "valence"):
        stats = rating_statistics(utterances, classes, rating, config.alpha)
        numbers[rating] = stats
        slides = SLIDES[rating]
        doc.append(f"### {rating.capitalize()}\n")
        rows = [{**g, "slides mean (KEMDy20)": slides["means"].get(g["class"])} for g in stats["groups"]]
        doc.append(_table(rows) + "\n")
        for note in stats["notes"]:
            doc.append(f"- note: {note}")
        if "skipped" in stats:
            doc.append("")
            continue
        doc.append(
            "\nNormality per group (the slides' rule: n > 30; test: Shapiro-Wilk up to n = 5000, D'Agostino above):\n"
        )
        doc.append(_table(stats["normality"]) + "\n")
        h = stats["homoscedasticity"]
        doc.append(
            f"Equal variances: Bartlett statistic {_fmt(h['bartlett']['statistic'])}, p = "
            f"{_p(h['bartlett']['p'])} (slides: {slides['bartlett_p']:.2e}); Levene statistic "
            f"{_fmt(h['levene']['statistic'])}, p = {_p(h['levene']['p'])} (slides: {slides['levene_p']:.2e}).\n"
        )
        a = stats["anova"]
        doc.append(f"Choice: {a['why']}.\n")
        anova_rows = [
            {
                "source": "this dataset",
                "test": a["test"],
                "F": a["F"],
                "ddof1": a["ddof1"],
                "ddof2": a["ddof2"],
                "p": a["p"],
                "np2": a["np2"],
            }
        ]
        if "anova" in slides:
            anova_rows.append({"source": "slides (KEMDy20)", "test": "welch_anova", **slides["anova"]})
        doc.append(_table(anova_rows) + "\n")
        doc.append(f"Post-hoc ({stats['posthoc']['test'].replace('_', '-')}), every pair:\n")
        doc.append(_table(stats["posthoc"]["pairs"]) + "\n")
    return numbers


def _bio_section(
    result: LoadResult, config: AnalysisConfig, out: Path, doc: list[str], progress: bool
) -> dict[str, Any]:
    doc.append("## 2. Bio-signals\n")
    if result.bio is None or result.bio.empty:
        note = (
            "skipped: the dataset has no bio-signals (a manifest never has them; a KEMDy folder needs "
            "EDA/TEMP/IBI or ECG folders)"
        )
        doc.append(f"_{note}._\n")
        return {"skipped": note}
    bio, utterances, classes = result.bio, result.utterances, result.classes
    kept_ids = set(utterances["utt_id"])
    numbers: dict[str, Any] = {"signals": sorted(str(s) for s in bio["signal"].unique())}

    cover = biosignals.coverage(utterances, bio)
    numbers["coverage"] = cover.to_dict("records")
    figures.coverage_heatmap(cover, out / "bio_coverage.png")
    overall = cover.groupby("signal")[["segments", "covered"]].sum()
    doc.append("### Coverage\n")
    doc.append(
        _table(
            [
                {
                    "signal": s,
                    "segments": int(r["segments"]),
                    "covered": int(r["covered"]),
                    "share": float(r["covered"] / r["segments"]),
                }
                for s, r in overall.iterrows()
            ]
        )
        + "\n"
    )
    doc.append("![coverage](bio_coverage.png)\n")
    holes = biosignals.gaps(bio)
    per = holes.groupby(["session", "signal"])["seconds"].agg(["count", "sum"]).reset_index()
    numbers["gaps"] = {
        "count": int(len(holes)),
        "total_s": float(holes["seconds"].sum()),
        "by_session_signal": per.rename(columns={"sum": "seconds"}).to_dict("records"),
        "longest": _stamped(holes.nlargest(10, "seconds")).to_dict("records"),
    }
    doc.append(
        f"Gaps (no sample for more than {biosignals.GAP_FACTOR:g} median sampling intervals and "
        f"{biosignals.GAP_MIN_S:g} s): {len(holes)} in all, {holes['seconds'].sum():.0f} s. Longest:\n"
    )
    doc.append(_table(numbers["gaps"]["longest"]) + "\n")

    sessions = sorted(str(s) for s in bio["session"].dropna().unique())
    session = config.session or sessions[0]
    if session not in sessions:
        doc.append(f"- note: session {session} has no bio-signals; the time plot shows {sessions[0]}\n")
        session = sessions[0]
    figures.session_timeline(session, utterances, bio, biosignals.segment_spans(bio), out / "bio_timeline.png")
    numbers["timeline_session"] = session
    doc.append(f"### {session} over time\n\n![timeline](bio_timeline.png)\n")

    responses, response_notes = biosignals.segment_responses(bio[bio["utt_id"].isna() | bio["utt_id"].isin(kept_ids)])
    assoc = biosignals.association(responses, utterances, classes)
    assoc["notes"] = response_notes
    numbers["association"] = assoc

    signal = config.dtw_signal
    doc.append(f"### {signal} shapes: DTW time-series k-means\n")
    series, series_notes = segment_series(
        bio[bio["utt_id"].isin(kept_ids)], signal, config.min_series_length, config.normalize_series
    )

    def bar(items):
        return tracked(items, f"DTW k-means on {signal}", len(items), quiet=not progress)

    study = (
        dtw_study(
            series,
            utterances.set_index("utt_id")["emotion"],
            config,
            bar,
        )
        if series
        else {"skipped": f"no segment has a usable {signal} series", "notes": []}
    )
    study["signal"] = signal
    study["notes"] = series_notes + study.get("notes", [])
    numbers["dtw"] = study
    crossing = study.get("contingency", {})
    if "chi2" in crossing:
        assoc["tests"].append(
            {
                "signal": signal,
                "test": "chi2_dtw_clusters",
                "n": study["clustered"],
                "statistic": crossing["chi2"],
                "effect": crossing["cramers_v"],
                "p": crossing["p"],
            }
        )
    # One family: every segment test and the cluster x emotion test, Holm-adjusted together.
    biosignals.holm(assoc["tests"], config.alpha)
    for note in study["notes"]:
        doc.append(f"- note: {note}")
    if "skipped" in study:
        doc.append(f"\n_skipped: {study['skipped']}._\n")
    else:
        _dtw_text(study, signal, out, doc)
    _association_text(assoc, responses, utterances, classes, out, doc)
    return numbers


def _dtw_text(study: dict[str, Any], signal: str, out: Path, doc: list[str]) -> None:
    doc.append(
        f"\n{study['clustered']} segment series (length {study['lengths']['min']}–{study['lengths']['max']}, "
        f"mean {study['lengths']['mean']:.1f} samples), each z-normalised: "
        f"{_fmt(study['normalized'])}. Indices per k, both on DTW distances:\n"
    )
    doc.append(_table(study["per_k"]) + "\n")
    doc.append(f"Chosen: {study['why']}.\n\n![indices](dtw_indices.png)\n\n![silhouette](dtw_silhouette.png)\n")
    figures.dtw_indices(study["per_k"], study["chosen_k"], signal, out / "dtw_indices.png")
    figures.silhouette_plot(study["_plot"]["samples"], study["_plot"]["labels"], signal, out / "dtw_silhouette.png")
    crossing = study["contingency"]
    table = pd.DataFrame(crossing["table"]).T.fillna(0).astype(int)
    table.index.name = "cluster"
    doc.append("Cluster × emotion:\n\n" + table.to_markdown() + "\n")
    if "chi2" in crossing:
        doc.append(
            f"\nχ² = {crossing['chi2']:.2f}, dof = {crossing['dof']}, raw p = {_p(crossing['p'])}, "
            f"Cramér's V = {crossing['cramers_v']:.3f}; its Holm-adjusted p is in the test family below.\n"
        )


def _association_text(
    assoc: dict[str, Any],
    responses: pd.DataFrame,
    utterances: pd.DataFrame,
    classes: list[str],
    out: Path,
    doc: list[str],
) -> None:
    doc.append("### Segment responses and the test family\n")
    doc.append(
        f"Each segment's response = (mean inside the segment - mean over the {biosignals.BASELINE_S:g} s "
        "before it) / its recording's standard deviation. Kruskal-Wallis across emotions and Spearman "
        "with the rated arousal and valence, plus the cluster × emotion chi-square above; p-values "
        f"Holm-adjusted over all {len(assoc['tests'])} tests.\n"
    )
    doc.append(_table(assoc["tests"]) + "\n")
    for note in assoc["notes"]:
        doc.append(f"- note: {note}")
    if not responses.empty:
        figures.responses_by_class(responses, utterances, classes, out / "bio_responses.png")
        doc.append("\n![responses](bio_responses.png)\n")


TEST_WORDING = {
    "kruskal_emotion": "segment responses differ across emotions (Kruskal-Wallis H = {statistic:.2f}",
    "spearman_arousal": "segment responses follow rated arousal (Spearman rho = {statistic:.3f}",
    "spearman_valence": "segment responses follow rated valence (Spearman rho = {statistic:.3f}",
    "chi2_dtw_clusters": "its DTW shape clusters depend on emotion (χ² = {statistic:.2f}, Cramér's V = {effect:.3f}",
}


def conclusions(ratings: dict[str, Any], bio: dict[str, Any], alpha: float) -> list[str]:
    """The report's conclusions in words, one line per rating and per bio-signal, from the numbers
    of the two sections (each line cites the test it rests on)."""
    lines = []
    for rating in ("arousal", "valence"):
        stats = ratings.get(rating, {})
        if "anova" not in stats:
            continue
        a = stats["anova"]
        verdict = "differs" if a["significant"] else "does not differ"
        lines.append(
            f"{rating.capitalize()} {verdict} across emotions ({a['test'].replace('_', ' ')} "
            f"F({a['ddof1']:g}, {round(a['ddof2'], 2):g}) = {a['F']:.2f}, p = {_p(a['p'])}, "
            f"partial eta² = {a['np2']:.3f})."
        )
    if "association" not in bio:
        return lines
    tests = [t for t in bio["association"]["tests"] if "p_holm" in t]
    dtw = bio.get("dtw", {})
    for signal in bio["signals"]:
        mine = [t for t in tests if t["signal"] == signal]
        if not mine:
            lines.append(f"{signal}: not enough segment data to test.")
            continue
        evidence = [
            TEST_WORDING[t["test"]].format(**t) + f", Holm p = {_p(t['p_holm'])})" for t in mine if t["significant"]
        ]
        if evidence:
            lines.append(f"{signal} is related to emotion: " + "; ".join(evidence) + ".")
            continue
        smallest = min(mine, key=lambda t: t["p_holm"])
        extra = ""
        if dtw.get("signal") == signal and "chosen_k" in dtw:
            best = max(r["silhouette"] for r in dtw["per_k"] if r["silhouette"] is not None)
            extra = f"; its DTW clusters show {dtw['silhouette_structure']} structure (best silhouette {best:.3f})"
        lines.append(
            f"{signal} is not related to emotion at alpha = {alpha}: none of its {len(mine)} tests is "
            f"significant (smallest Holm p = {_p(smallest['p_holm'])}){extra}."
        )
    return lines


def analyze(
    result: LoadResult,
    out: str | Path,
    config: AnalysisConfig | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run both analyses on a loaded dataset and write the report folder; returns analysis.json's content."""
    config = config or AnalysisConfig()
    out = Path(out)
    check_replaceable(out, force, "analyze")
    synthetic = result.synthetic
    doc = [f"# Modality analysis: {result.dataset}\n"]
    if synthetic:
        doc.append(
            "> **SYNTHETIC demo corpus.** The data were generated by `vamer data demo`; these numbers "
            "say nothing about real emotional speech.\n"
        )
    protocol = {
        "dataset": result.dataset,
        "format": result.format,
        "root": result.root,
        "synthetic": synthetic,
        "classes": result.classes,
        "utterances": int(len(result.utterances)),
        "skipped_at_load": int(len(result.skipped)),
        "seed": config.seed,
        "alpha": config.alpha,
        "settings": config.model_dump(),
        "vamer_version": vamer.__version__,
    }
    doc.append(
        f"Protocol: {len(result.utterances)} utterances of the classes {', '.join(result.classes)} "
        f"({len(result.skipped)} source rows skipped at load, see `vamer data check`); significance level "
        f"{config.alpha}; seed {config.seed}; vamer {vamer.__version__}. Tests: pingouin and scipy; DTW: tslearn.\n"
    )
    with atomic_directory(out, "analyze", force) as scratch:
        ratings = _ratings_section(result, config, scratch, doc)
        bio = _bio_section(result, config, scratch, doc, progress)
        found = conclusions(ratings, bio, config.alpha)
        doc.append("## Conclusions\n")
        doc.extend(f"- {line}" for line in found)
        numbers = _public(
            {
                "generator": "vamer analyze",
                "protocol": protocol,
                "ratings": ratings,
                "anova": {r: ratings[r]["anova"] for r in ("arousal", "valence") if "anova" in ratings.get(r, {})},
                "bio": bio,
                "conclusions": found,
                "figures": sorted(p.name for p in scratch.glob("*.png")),
            }
        )
        (scratch / "report.md").write_text("\n".join(doc) + "\n", encoding="utf-8")
        (scratch / NUMBERS_FILE).write_text(
            json.dumps(numbers, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
    return numbers

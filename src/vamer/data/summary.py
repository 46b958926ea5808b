"""Numbers that describe a loaded dataset: what ``vamer data check`` prints and writes as JSON.

Top-level keys of :func:`summarize` (documented in the README):
``dataset, format, root, synthetic, classes, source_rows, kept, skipped, unaccounted, notes, skipped_by_reason,
skipped_examples, per_class, sessions, speakers, duration_s, audio, text, bio, bio_issues``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vamer.data.bio import BIO_SIGNALS
from vamer.data.table import LoadResult
from vamer.reasons import Reason

LONG_CLIP_S = 16.4  # KEMDy20: about 96 % of segments are shorter than this
UNKNOWN = "(unknown)"  # session or speaker a manifest did not give


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(key): int(value) for key, value in series.value_counts(dropna=False).items()}


def _duration_stats(durations: pd.Series) -> dict[str, float]:
    if durations.empty:
        return {
            "total_h": 0.0,
            "mean": 0.0,
            "std": 0.0,
            "min": 0.0,
            "median": 0.0,
            "p95": 0.0,
            "max": 0.0,
            "share_under_16_4s": 0.0,
        }
    return {
        "total_h": float(durations.sum() / 3600),
        "mean": float(durations.mean()),
        "std": float(durations.std(ddof=0)),
        "min": float(durations.min()),
        "median": float(durations.median()),
        "p95": float(durations.quantile(0.95)),
        "max": float(durations.max()),
        "share_under_16_4s": float((durations < LONG_CLIP_S).mean()),
    }


def _bio_coverage(result: LoadResult) -> dict[str, Any] | None:
    if result.bio is None:
        return None
    kept = result.utterances
    coverage: dict[str, Any] = {}
    for signal in BIO_SIGNALS:
        samples = result.bio[result.bio["signal"] == signal]
        if samples.empty:
            continue
        covered_ids = set(samples["utt_id"].dropna())
        has = kept["utt_id"].isin(covered_ids)
        per_session = has.groupby(kept["session"]).mean()
        coverage[signal] = {
            "samples": int(len(samples)),
            "files": int(samples.groupby(["session", "speaker"], observed=True).ngroups),
            "utterances_covered": int(has.sum()),
            "share_covered": float(has.mean()) if len(kept) else 0.0,
            "per_session_share": {str(k): round(float(v), 4) for k, v in per_session.items()},
            "sessions_with_gaps": sorted(str(k) for k, v in per_session.items() if v < 1.0),
        }
    return coverage


def summarize(result: LoadResult) -> dict[str, Any]:
    kept = result.utterances
    skipped = result.skipped
    per_class = {label: int((kept["emotion"] == label).sum()) for label in result.classes}
    sessions = {}
    for session, group in kept.groupby(kept["session"].fillna(UNKNOWN), sort=True):
        sessions[str(session)] = {
            "utterances": int(len(group)),
            "speakers": sorted(str(s) for s in group["speaker"].dropna().unique()),
            "per_class": {label: int((group["emotion"] == label).sum()) for label in result.classes},
        }
    speakers = {}
    for speaker, group in kept.groupby(kept["speaker"].fillna(UNKNOWN), sort=True):
        speakers[str(speaker)] = {
            "utterances": int(len(group)),
            "sessions": sorted(str(s) for s in group["session"].dropna().unique()),
            "gender": None if group["gender"].isna().all() else str(group["gender"].dropna().iloc[0]),
            "duration_h": float(group["duration_s"].sum() / 3600),
        }
    by_reason = _counts(skipped["reason"]) if len(skipped) else {}
    examples = {
        reason: skipped.loc[skipped["reason"] == reason, ["utt_id", "source", "detail"]].head(3).to_dict("records")
        for reason in by_reason
    }
    empty_text = int((kept["text"].fillna("") == "").sum())
    return {
        "dataset": result.dataset,
        "format": result.format,
        "root": result.root,
        "synthetic": result.synthetic,
        "classes": result.classes,
        "source_rows": result.source_rows,
        "kept": int(len(kept)),
        "skipped": int(len(skipped)),
        "unaccounted": int(result.unaccounted),
        "notes": list(result.notes),
        "skipped_by_reason": by_reason,
        "skip_reason_meanings": {r: Reason(r).meaning for r in by_reason},
        "skipped_examples": examples,
        "per_class": per_class,
        "sessions": sessions,
        "speakers": speakers,
        "duration_s": _duration_stats(kept["duration_s"]),
        "audio": {
            "sample_rates": _counts(kept["sample_rate"]),
            "channels": _counts(kept["channels"]),
        },
        "text": {
            "empty_after_cleaning": empty_text,
            "mean_chars": float(kept["text"].fillna("").str.len().mean()) if len(kept) else 0.0,
            "with_tags": int((kept["text_raw"].fillna("") != kept["text"].fillna("")).sum()),
        },
        "ratings": {
            name: {
                "missing": int(kept[name].isna().sum()),
                "mean": None if kept[name].isna().all() else float(np.nanmean(kept[name])),
            }
            for name in ("arousal", "valence")
        },
        "bio": _bio_coverage(result),
        "bio_issues": result.bio_issues.to_dict("records") if result.bio_issues is not None else [],
    }


def render_summary(summary: dict[str, Any], console) -> None:
    """Print ``summary`` as readable tables on a rich console.  Whatever comes from the data (paths,
    names, ids, notes) is escaped: ``[draft]`` in a folder's name is text, not markup."""
    from rich.markup import escape
    from rich.table import Table

    title = f"{summary['dataset']} ({summary['format']}) at {summary['root']}"
    console.print(f"[bold]{escape(title)}[/bold]")
    if summary["synthetic"]:
        console.print("[yellow]SYNTHETIC demo corpus: espeak-ng speech and generated ratings, not KEMDy20[/yellow]")
    console.print(f"source rows {summary['source_rows']}: kept {summary['kept']}, skipped {summary['skipped']}")
    if summary["unaccounted"]:
        console.print(
            f"[red]{summary['unaccounted']} source rows were neither kept nor skipped: a vamer bug, "
            "please report it with this dataset's annotation files[/red]"
        )
    for note in summary["notes"]:
        console.print(f"note: {escape(str(note))}")
    if not summary["kept"]:
        console.print("[red]no utterance was kept; see the skipped rows below[/red]")

    classes = Table(title="utterances per class")
    classes.add_column("class")
    classes.add_column("n", justify="right")
    classes.add_column("share", justify="right")
    for label, count in summary["per_class"].items():
        share = count / summary["kept"] if summary["kept"] else 0.0
        classes.add_row(escape(str(label)), str(count), f"{share:.1%}")
    console.print(classes)

    sessions = Table(title="per session")
    sessions.add_column("session")
    sessions.add_column("n", justify="right")
    for label in summary["classes"]:
        sessions.add_column(escape(str(label)), justify="right")
    sessions.add_column("speakers")
    for session, info in summary["sessions"].items():
        sessions.add_row(
            escape(str(session)),
            str(info["utterances"]),
            *(str(info["per_class"][c]) for c in summary["classes"]),
            escape(", ".join(map(str, info["speakers"]))),
        )
    console.print(sessions)

    speakers = Table(title="per speaker")
    for column in ("speaker", "gender", "sessions", "n", "hours"):
        speakers.add_column(column, justify="right" if column in ("n", "hours") else "left")
    for speaker, info in summary["speakers"].items():
        speakers.add_row(
            escape(str(speaker)),
            escape(str(info["gender"] or "-")),
            escape(", ".join(map(str, info["sessions"]))),
            str(info["utterances"]),
            f"{info['duration_h']:.3f}",
        )
    console.print(speakers)

    d = summary["duration_s"]
    console.print(
        f"duration: {d['total_h']:.2f} h in all; mean {d['mean']:.2f} s (sd {d['std']:.2f}), median {d['median']:.2f}, "
        f"min {d['min']:.2f}, p95 {d['p95']:.2f}, max {d['max']:.2f}; "
        f"{d['share_under_16_4s']:.1%} under {LONG_CLIP_S} s"
    )
    audio = summary["audio"]
    console.print(f"sample rates {audio['sample_rates']}; channels {audio['channels']}")
    text = summary["text"]
    console.print(f"transcripts: {text['with_tags']} carried tags; {text['empty_after_cleaning']} empty after cleaning")

    if summary["bio"] is None:
        console.print("bio-signals: none (no EDA/TEMP/IBI/ECG folders, or not read)")
    else:
        bio = Table(title="bio-signal coverage of kept utterances")
        for column in ("signal", "files", "samples", "covered", "share", "sessions with gaps"):
            bio.add_column(column)
        for signal, info in summary["bio"].items():
            gaps = info["sessions_with_gaps"]
            shown = ", ".join(gaps[:8]) + (f" (+{len(gaps) - 8})" if len(gaps) > 8 else "")
            bio.add_row(
                signal,
                str(info["files"]),
                str(info["samples"]),
                str(info["utterances_covered"]),
                f"{info['share_covered']:.1%}",
                escape(shown) or "-",
            )
        console.print(bio)
    for issue in summary["bio_issues"]:
        console.print(
            escape(f"bio rows not read: {issue['file']} ({issue['signal']}): {issue['rows']} rows, {issue['reason']}")
        )

    if summary["skipped_by_reason"]:
        skipped = Table(title="skipped rows by reason")
        for column in ("reason", "n", "meaning", "example"):
            skipped.add_column(column)
        for reason, count in summary["skipped_by_reason"].items():
            example = summary["skipped_examples"][reason][0]
            skipped.add_row(
                reason,
                str(count),
                summary["skip_reason_meanings"][reason],
                escape(f"{example['source']} {example['utt_id']}: {example['detail']}"),
            )
        console.print(skipped)
    else:
        console.print("skipped rows: none")


def check_dataset(
    result: LoadResult, console, json_out: Path | None = None, skipped_out: Path | None = None
) -> list[str]:
    """``vamer data check``: print the summary of a loaded dataset, and write its numbers
    (``json_out``) and every skipped row (``skipped_out``: utt_id, source, reason, detail) when
    asked.  Returns what was written, as lines for the user."""
    from vamer.fileio import record_written, write_json_atomic, write_text_atomic

    summary = summarize(result)
    render_summary(summary, console)
    written = []
    if json_out is not None:
        write_json_atomic(json_out, summary)
        record_written(json_out)
        written.append(f"wrote {json_out}")
    if skipped_out is not None:
        write_text_atomic(skipped_out, result.skipped.to_csv(index=False))
        record_written(skipped_out)
        written.append(f"wrote {skipped_out} ({len(result.skipped)} skipped rows)")
    return written


def check_outputs(json_out: Path | None, skipped_out: Path | None, force: bool) -> None:
    """Refuse, before the dataset is read, outputs that would overwrite each other or a file the
    user has (without ``force``)."""
    from vamer.errors import VamerError
    from vamer.fileio import refuse_overwrite

    if json_out is not None and skipped_out is not None and json_out.resolve() == skipped_out.resolve():
        raise VamerError(
            f"--json and --skipped name the same file ({json_out}); the second would overwrite "
            "the first: give two paths"
        )
    for output in (json_out, skipped_out):
        if output is not None:
            refuse_overwrite(output, force)

"""A timeline on disk: one row per segment (``.csv`` or ``.jsonl``), the whole document
(``.json``: segments, summary, waveform), subtitles a video player shows under the recording
(``.srt`` or ``.vtt``: one cue per speech segment), and a figure a person can put in a report
(``.png``: waveform, arousal, emotion bands, class probabilities over time).

CSV columns: ``index, kind, start_s, end_s, label, p_<class>…, arousal, valence, text, notes,
error, error_kind`` (silence rows have no label, probabilities or ratings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vamer.errors import VamerError
from vamer.fileio import record_written, refuse_overwrite, write_bytes_atomic, write_json_atomic, write_text_atomic
from vamer.inference.batch import ResultWriter, printable
from vamer.timeline.result import Timeline

TABLE_SUFFIXES = (".csv", ".jsonl", ".json", ".srt", ".vtt")


def columns(classes: list[str]) -> list[str]:
    return [
        "index",
        "kind",
        "start_s",
        "end_s",
        "speaker",
        "label",
        *(f"p_{c}" for c in classes),
        "arousal",
        "valence",
        "text",
        "text_source",
        "notes",
        "error",
        "error_kind",
    ]


def rows(timeline: Timeline) -> list[dict[str, Any]]:
    """One flat row per segment (the CSV's)."""
    out = []
    for segment in timeline.segments:
        probabilities = segment.probabilities or {}
        out.append(
            {
                "index": segment.index,
                "kind": segment.kind,
                "start_s": segment.start_s,
                "end_s": segment.end_s,
                "speaker": segment.speaker,
                "label": segment.label,
                **{f"p_{c}": probabilities.get(c) for c in timeline.classes},
                "arousal": segment.arousal,
                "valence": segment.valence,
                "text": segment.text,
                "text_source": segment.text_source,
                "notes": "; ".join(segment.notes),
                "error": segment.error,
                "error_kind": segment.error_kind,
            }
        )
    return out


def check_outputs(table: Path | None, figure: Path | None, force: bool) -> None:
    """Refuse, before any audio is read, outputs of the wrong kind or that exist (without ``force``)."""
    if table is not None and table.suffix.lower() not in TABLE_SUFFIXES:
        raise VamerError(f"{table}: write a timeline to a .csv, .jsonl, .json, .srt or .vtt file")
    if figure is not None and figure.suffix.lower() != ".png":
        raise VamerError(f"{figure}: the timeline figure is a .png file")
    if table is not None and figure is not None and table.resolve() == figure.resolve():
        raise VamerError("--out and --figure name the same file")
    for path in (table, figure):
        if path is not None:
            refuse_overwrite(path, force)


def _stamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}{separator}{millis % 1000:03d}"


def subtitles(timeline: Timeline, kind: str) -> str:
    """The speech segments as ``srt`` or ``vtt`` cues: a first line with the speaker, the emotion
    (its probability), arousal and valence, then the words (given or recognised).  In WebVTT the
    speaker is the cue's voice (``<v S1>``) and ``&``, ``<`` and ``>`` are escaped; SRT, which has
    no escapes, gets ``‹`` and ``›`` for ``<`` and ``>``."""
    vtt = kind == "vtt"
    cues = []
    for segment in (s for s in timeline.segments if s.kind == "speech"):
        if segment.label is not None:
            what = [f"{segment.label} {segment.probabilities[segment.label]:.0%}"]
            what += [
                f"{name} {value:.1f}"
                for name, value in (("arousal", segment.arousal), ("valence", segment.valence))
                if value is not None
            ]
        else:
            what = [f"not read ({segment.error_kind})"]
        if segment.speaker and not vtt:
            what.insert(0, segment.speaker)
        # A cue ends at a blank line and its timing line holds "-->": the words can hold neither.
        lines = [" · ".join(what), " ".join(segment.text.split()).replace("-->", "->")]
        text = "\n".join(line for line in lines if line)
        if vtt:
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            text = f"<v {segment.speaker}>{text}" if segment.speaker else text
        else:  # SRT has no escapes, and players read <b> or <i> in it as markup
            text = text.replace("<", "‹").replace(">", "›")
        separator = "." if vtt else ","
        timing = f"{_stamp(segment.start_s, separator)} --> {_stamp(segment.end_s, separator)}"
        cues.append(f"{timing}\n{text}\n" if vtt else f"{len(cues) + 1}\n{timing}\n{text}\n")
    return ("WEBVTT\n\n" if vtt else "") + "\n".join(cues)


def write_table(timeline: Timeline, out: Path, force: bool = False) -> None:
    """The segments to ``out`` (.csv or .jsonl rows, the .json document, or .srt/.vtt subtitles),
    written whole or not at all."""
    suffix = out.suffix.lower()
    if suffix in (".json", ".srt", ".vtt"):
        refuse_overwrite(out, force)
        if suffix == ".json":
            write_json_atomic(out, timeline.model_dump(mode="json"))
        else:
            write_text_atomic(out, subtitles(timeline, suffix[1:]))
        record_written(out)
        return
    writer = ResultWriter(out, columns(timeline.classes), force)
    try:
        for row in rows(timeline):
            writer.write({key: printable(value) for key, value in row.items()})
    except BaseException:
        writer.abandon()
        raise
    writer.finish()


# One colour per class, the same in every figure; silence is left white.
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
# Speakers in darker tones than the emotions, so the two bands are not read as one.
SPEAKER_PALETTE = ["#1b4965", "#7a3e9d", "#2d6a4f", "#9c6644", "#495057", "#b5179e", "#3a5a40", "#6d597a"]


def figure_png(timeline: Timeline, width_in: float = 12.0) -> bytes:
    """The timeline as a PNG: the waveform, the arousal of each speech segment, the emotion bands,
    and each class's probability over time."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colours = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(timeline.classes)}
    speech = [s for s in timeline.segments if s.kind == "speech" and s.label is not None]
    figure, axes = plt.subplots(
        5, 1, figsize=(width_in, 8.2), sharex=True, gridspec_kw={"height_ratios": [1.2, 1, 0.4, 0.5, 1.4]}
    )
    wave, voices, arousal, bands, probabilities = axes[0], axes[2], axes[1], axes[3], axes[4]
    peaks = np.asarray(timeline.waveform.peaks)
    times = np.arange(len(peaks)) * timeline.waveform.seconds_per_bin
    wave.fill_between(times, -peaks, peaks, color="#555555", linewidth=0)
    wave.set_ylabel("waveform")
    wave.set_yticks([])
    mids = [(s.start_s + s.end_s) / 2 for s in speech]
    rated = [(m, s.arousal) for m, s in zip(mids, speech) if s.arousal is not None]
    if rated:
        arousal.plot(*zip(*rated), marker="o", markersize=3, color="#c44e52")
        arousal.set_ylim(1, 5)
    else:
        arousal.text(
            0.5, 0.5, "no arousal regressor in this bundle", ha="center", va="center", transform=arousal.transAxes
        )
    arousal.set_ylabel("arousal (1-5)")
    names = list(timeline.summary.speakers)
    for segment in (s for s in timeline.segments if s.speaker):
        voices.axvspan(
            segment.start_s,
            segment.end_s,
            color=SPEAKER_PALETTE[names.index(segment.speaker) % len(SPEAKER_PALETTE)],
            linewidth=0,
        )
    for index, name in enumerate(names):
        voices.text(
            next(s.start_s for s in timeline.segments if s.speaker == name),
            0.5,
            name,
            va="center",
            fontsize=8,
            color=SPEAKER_PALETTE[index % len(SPEAKER_PALETTE)],
            transform=voices.get_xaxis_transform(),
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    voices.set_yticks([])
    voices.set_ylabel("speaker")
    for segment in speech:
        bands.axvspan(segment.start_s, segment.end_s, color=colours[segment.label], linewidth=0)
    bands.set_yticks([])
    bands.set_ylabel("emotion")
    for name in timeline.classes:
        values = [s.probabilities[name] for s in speech]
        if values:
            probabilities.plot(mids, values, marker=".", color=colours[name], label=name)
    probabilities.set_ylim(0, 1)
    probabilities.set_ylabel("probability")
    probabilities.set_xlabel("time (s)")
    handles = [matplotlib.patches.Patch(color=colours[c], label=c) for c in timeline.classes]
    probabilities.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=len(handles), frameon=False
    )
    share = ", ".join(f"{c} {v:.0%}" for c, v in timeline.summary.share.items() if v)
    figure.suptitle(
        f"{Path(timeline.source).name}: {timeline.seconds / 60:.1f} min, "
        f"{timeline.summary.speech_segments} speech segments" + (f" ({share})" if share else "")
    )
    wave.set_xlim(0, max(timeline.seconds, 1e-3))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def write_figure(timeline: Timeline, out: Path, force: bool = False) -> None:
    refuse_overwrite(out, force)
    write_bytes_atomic(out, figure_png(timeline))
    record_written(out)


def summary_lines(timeline: Timeline) -> list[str]:
    """What the command prints: the recording, speech and silence, the share per emotion, the
    strongest moments, and the notes."""
    summary = timeline.summary
    lines = [
        f"{timeline.source}: {timeline.seconds:.1f} s, {summary.speech_segments} speech segments "
        f"({summary.speech_s:.1f} s of speech, {summary.silence_s:.1f} s of silence)"
        + (f", {summary.failed_segments} could not be read" if summary.failed_segments else "")
    ]
    if summary.speakers:
        lines.append(
            f"{len(summary.speakers)} speaker(s) by voice: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.speakers.items())
        )
    if any(summary.share.values()):
        lines.append("share of speech time: " + ", ".join(f"{c} {v:.0%}" for c, v in summary.share.items()))
    for moment in summary.strongest:
        lines.append(
            f"strongest {moment.what}: {moment.value:.2f} at {_clock(moment.start_s)}-{_clock(moment.end_s)}"
            f" (segment {moment.index})"
        )
    lines += [f"note: {note}" for note in timeline.notes]
    return lines


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"

"""``vamer predict`` on many inputs: gather files, folders and manifests; write one row per input.

Output columns (CSV, or one JSON object per line for ``.jsonl``):

    input          the path as given (or the manifest's utt_id when it has one)
    label          predicted class; empty when the input failed
    p_<class>      probability of each class
    arousal, valence, duration_s, audio_seconds, truncated, sample_rate, channels,
    text, text_source, audio_only, speaker, speaker_context, engine, notes ("; "-joined)
    error, error_kind   why an input could not be predicted (empty when it was)
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from vamer.data.manifest import read_table
from vamer.errors import VamerError
from vamer.fileio import record_written, refuse_overwrite
from vamer.inference.intake import PredictionError
from vamer.inference.predictor import AUDIO_SUFFIXES, Predictor, SpeakerInput
from vamer.inference.result import PredictionResult

OUTPUT_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class Request:
    name: str
    audio: Path
    text: str | None
    refused: tuple[str, str] | None = None  # (error_kind, error) known before any audio is read
    speaker: str | None = None  # inputs of one speaker are normalised together


@dataclass(frozen=True)
class SpeakerChoice:
    """Where the speaker context of ``vamer predict`` comes from: ``speaker`` names every input's
    speaker (they are normalised together), ``profile`` a saved profile in ``profiles``; neither:
    a manifest's ``speaker`` column, else none."""

    speaker: str | None = None
    profile: str | None = None
    profiles: Path | None = None


def _folder_audio(folder: Path) -> list[Path]:
    """Every entry under ``folder`` named like audio, files or not: a broken link, a FIFO or a folder
    called ``x.wav`` gets its own error row instead of vanishing."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system, for example: reported when it is read
        return False


def gather(
    inputs: list[Path], manifest: Path | None = None, text: str | None = None, speaker: str | None = None
) -> list[Request]:
    """Requests from files, folders (their audio files, recursively) and a manifest (column ``audio``,
    relative to the manifest's folder; optional ``text``, ``utt_id`` and ``speaker``).  A manifest row
    that cannot be read becomes a request that is already refused, so it still gets its output row.
    ``speaker`` names the speaker of every input (over a manifest's column)."""
    requests: list[Request] = []
    for path in inputs:
        if _is_dir(path):
            found = _folder_audio(path)
            if not found:
                raise VamerError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            requests.extend(Request(str(p), p, None) for p in found)
        else:
            requests.append(Request(str(path), path, None))
    if manifest is not None:
        table = read_table(manifest)
        if "audio" not in table.columns:
            raise VamerError(
                f"{manifest}: a prediction manifest needs an 'audio' column; it has "
                f"{', '.join(table.columns) or 'none'}"
            )
        base = manifest.parent.resolve()
        for row in table.rows:
            if row.reason is not None:
                requests.append(Request(row.source, base, None, (row.reason.value, f"{row.source}: {row.problem}")))
                continue
            cell = table.cell(row, "audio")
            name = table.cell(row, "utt_id") or cell or row.source
            if not cell:
                requests.append(Request(name, base, None, ("not_found", f"{row.source}: empty audio cell")))
                continue
            audio = Path(cell)
            requests.append(
                Request(
                    name,
                    audio if audio.is_absolute() else base / audio,
                    table.cell(row, "text") or None,
                    speaker=table.cell(row, "speaker") or None,
                )
            )
    if text is not None:
        if len(requests) != 1:
            raise VamerError("--text goes with exactly one input; give several texts through a manifest's text column")
        requests[0] = Request(requests[0].name, requests[0].audio, text, requests[0].refused)
    if not requests:
        raise VamerError("nothing to predict: give audio files, folders or --manifest")
    if speaker is not None:
        requests = [Request(r.name, r.audio, r.text, r.refused, speaker) for r in requests]
    return requests


def speaker_inputs(
    predictor: Predictor, requests: list[Request], choice: SpeakerChoice = SpeakerChoice()
) -> list[SpeakerInput | None]:
    """Each request's speaker context.  A profile serves every request.  Otherwise the requests that
    name a speaker are read once here for their frozen inputs (kept, so prediction does not compute
    them again), and each speaker's statistics come from all of their clips that can be read (fewer
    than the bundle's minimum: the population's, with a note).  None: no speaker context."""
    if choice.profile is not None:
        store = predictor.profiles(choice.profiles)
        try:
            statistics = predictor.profile(store, choice.profile)
        except PredictionError as error:
            raise VamerError(f"--profile {choice.profile}: {error}") from None
        return [SpeakerInput(choice.profile, statistics)] * len(requests)
    if predictor.bundle.population is None or not any(r.speaker for r in requests):
        return [None] * len(requests)
    frozen: list = [None] * len(requests)
    for index, request in enumerate(requests):
        if request.speaker and request.refused is None:
            try:
                frozen[index] = predictor.frozen_inputs(request.audio)
            except Exception:  # noqa: BLE001 - the prediction reports it in its own row; the others go on
                pass
    groups: dict[str, list] = {}
    for request, states in zip(requests, frozen):
        if request.speaker and states is not None:
            groups.setdefault(request.speaker, []).append(states)
    statistics = {speaker: predictor.speaker_statistics(clips) for speaker, clips in groups.items()}
    return [
        SpeakerInput(r.speaker, statistics.get(r.speaker), states) if r.speaker else None
        for r, states in zip(requests, frozen)
    ]


def result_rows(
    predictor: Predictor,
    requests: list[Request],
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    choice: SpeakerChoice = SpeakerChoice(),
) -> Iterator[dict[str, Any]]:
    """One row per request, in order, each as soon as it is predicted; a request that fails has
    ``error``/``error_kind`` and no label.  Text cells are valid Unicode whatever the file names."""
    speakers = speaker_inputs(predictor, requests, choice)
    readable = [(r, who) for r, who in zip(requests, speakers) if r.refused is None]
    predicted = predictor.iter_predictions(((r.audio, r.text, who) for r, who in readable), batch_size, progress)
    for request in requests:
        if request.refused is not None:
            result = PredictionResult.failure(*request.refused)
            if progress:
                progress(1)
        else:
            result = next(predicted)
        row: dict[str, Any] = {"input": request.name, "label": result.label or ""}
        row.update({f"p_{c}": (result.probabilities or {}).get(c) for c in predictor.classes})
        for key in RESULT_COLUMNS:
            row[key] = getattr(result, key)
        row["notes"] = "; ".join(result.notes)
        row["error"], row["error_kind"] = result.error or "", result.error_kind or ""
        yield {key: printable(value) for key, value in row.items()}


def printable(value: Any) -> Any:
    """A text cell that any UTF-8 writer takes: a file name that is not valid UTF-8 reaches Python
    with surrogate escapes (``os.fsdecode``), which no UTF-8 file can hold; its bad bytes are shown
    as ``\\xNN`` instead.  Other values are left alone.

    >>> printable("caf\\udce9.wav"), printable(0.5)
    ('caf\\\\xe9.wav', 0.5)
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def check_output(out: Path, force: bool) -> None:
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise VamerError(f"{out}: write results to a .csv or .jsonl file")
    refuse_overwrite(out, force)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheet programs read as a formula


def _csv_cell(value: Any) -> Any:
    """A CSV cell that spreadsheet programs cannot run as a formula: text beginning with one of
    :data:`FORMULA_STARTS` gets a leading apostrophe (OWASP's advice against CSV injection); numbers
    are left alone, so -0.5 stays a number.

    >>> [_csv_cell(v) for v in ("=1+2", "fine", "-x", -0.5, None)]
    ["'=1+2", 'fine', "'-x", -0.5, '']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


class ResultWriter:
    """Rows written to ``out`` as they are made: into ``OUT.partial`` (flushed row by row, so a
    stopped job keeps every row it made), renamed to ``out`` when every row is in.  CSV cells are
    neutralised against formula injection; JSON Lines keep values as they are (JSON is not read as
    formulas)."""

    def __init__(self, out: Path, columns: list[str], force: bool = False) -> None:
        check_output(out, force)
        self.out, self.columns = Path(out), columns
        self.partial = self.out.with_name(self.out.name + ".partial")
        if self.partial.exists() and not force:
            raise VamerError(
                f"{self.partial} holds the rows of an interrupted `vamer predict`; move it away, or "
                "pass --force to replace it"
            )
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.partial, "w", encoding="utf-8", newline="")
        self.rows = 0
        if self.out.suffix.lower() == ".csv":
            self.csv = csv.writer(self.handle)
            self.csv.writerow(columns)
        else:
            self.csv = None

    def write(self, row: dict[str, Any]) -> None:
        if self.csv is not None:
            self.csv.writerow([_csv_cell(row.get(column)) for column in self.columns])
        else:
            self.handle.write(
                json.dumps(
                    {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()},
                    ensure_ascii=False,
                )
                + "\n"
            )
        self.handle.flush()
        self.rows += 1

    def finish(self) -> None:
        """Every row is in: the output appears whole under its name."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.partial, self.out)
        record_written(self.out)

    def abandon(self) -> None:
        """Stopped before the end: the rows made so far stay in ``OUT.partial`` (none: it goes)."""
        if not self.handle.closed:
            self.handle.close()
        if not self.rows:
            self.partial.unlink(missing_ok=True)


# A prediction's fields that become output columns as they are, in output order.
RESULT_COLUMNS = (
    "arousal",
    "valence",
    "duration_s",
    "audio_seconds",
    "truncated",
    "sample_rate",
    "channels",
    "text",
    "text_source",
    "audio_only",
    "speaker",
    "speaker_context",
    "engine",
)


def columns_of(predictor: Predictor) -> list[str]:
    """The output columns, in order (the module's docstring says what each holds)."""
    return [
        "input",
        "label",
        *(f"p_{c}" for c in predictor.classes),
        *RESULT_COLUMNS,
        "notes",
        "error",
        "error_kind",
    ]


@dataclass
class BatchOutcome:
    """What ``vamer predict`` did: every row (kept only when they are shown, not written), how
    many inputs there were and how many failed."""

    rows: list[dict[str, Any]]
    total: int = 0
    failed: int = 0


def predict_inputs(
    predictor: Predictor,
    requests: list[Request],
    out: Path | None = None,
    force: bool = False,
    batch_size: int = 16,
    advance: Callable[[int], None] = lambda n: None,
    stopped: Callable[[str], None] = lambda message: None,
    choice: SpeakerChoice = SpeakerChoice(),
) -> BatchOutcome:
    """Predict every request.  With ``out``, rows stream into ``OUT.partial`` as they come and the
    file becomes ``OUT`` when whole; a job stopped part-way keeps its rows there and ``stopped`` is
    told where.  Without, the rows are returned for :func:`results_table`."""
    writer = ResultWriter(out, columns_of(predictor), force) if out is not None else None
    outcome = BatchOutcome(rows=[])
    try:
        for row in result_rows(predictor, requests, batch_size, advance, choice):
            outcome.total += 1
            outcome.failed += bool(row["error"])
            if writer is not None:
                writer.write(row)
            else:
                outcome.rows.append(row)
    except BaseException:
        if writer is not None:
            writer.abandon()
            if writer.rows:
                stopped(f"stopped: the {writer.rows} rows predicted so far are in {writer.partial}")
        raise
    if writer is not None:
        writer.finish()
    return outcome


def results_table(rows: list[dict[str, Any]]):
    """The rows as a terminal table: file name, label, its probability, ratings, the text (with where
    it came from), notes or error."""
    from rich.markup import escape
    from rich.table import Column, Table

    def rating(value) -> str:
        return "-" if value is None or value != value else f"{value:.2f}"  # NaN-safe

    table = Table(
        Column("input", no_wrap=True, min_width=22),
        "label",
        "p",
        "arousal",
        "valence",
        Column("text", max_width=24),
        "notes / error",
    )
    for row in rows:
        # The file name (--out keeps whole paths), as text: `tag[/b].wav` is not markup.
        name = escape(Path(row["input"]).name or row["input"])
        if row["error"]:
            table.add_row(name, "-", "-", "-", "-", "-", f"[red]{escape(str(row['error']))}[/red]")
        else:
            words = f"{escape(str(row['text']))} [dim]({row['text_source']})[/dim]" if row["text"] else "-"
            table.add_row(
                name,
                row["label"],
                f"{row['p_' + row['label']]:.2f}",
                rating(row["arousal"]),
                rating(row["valence"]),
                words,
                escape(str(row["notes"])),
            )
    return table

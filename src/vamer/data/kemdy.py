"""Readers of the ETRI KEMDy20 and KEMDy19 layouts (see DESIGN.md section 2).

KEMDy20::

    annotation/Sess01_eval.csv        two header rows; col 3 segment id, 4 emotion, 5 valence, 6 arousal
    wav/Session01/<SegmentID>.wav     16 kHz mono, with <SegmentID>.txt (cp949) beside it
    EDA|TEMP|IBI/Session01/*.csv      bio-signals (see vamer.data.bio)

KEMDy19::

    annotation/Session01_F_res.csv    one file per session and gender, each rating both speakers
    wav/Session01/Sess01_impro01/Sess01_impro01_M001.wav (+ .txt, UTF-8)
    ECG|EDA|TEMP/...

Column positions are read from the two header rows, never assumed, so a file whose header puts
valence and arousal elsewhere is still read right.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vamer.data.checks import RawRow, keep_if_valid
from vamer.data.config import DataConfig
from vamer.data.csvtext import CsvRecord, decode, physical_lines, read_records
from vamer.data.labels import parse_emotions
from vamer.data.table import RowLedger
from vamer.errors import VamerError
from vamer.reasons import Reason

KEMDY20_ANNOTATION = re.compile(r"^Sess(?P<session>\d{2})_eval\.csv$", re.IGNORECASE)
KEMDY19_ANNOTATION = re.compile(r"^Session(?P<session>\d{2})_(?P<gender>[FM])_res\.csv$", re.IGNORECASE)
KEMDY20_ID = re.compile(
    r"^Sess(?P<session>\d{2})_(?P<script>script\d{2})_(?P<speaker>User\d{3}(?P<gender>[FM]))_(?P<number>\d{3})$"
)
KEMDY19_ID = re.compile(r"^Sess(?P<session>\d{2})_(?P<script>(?:impro|script)\d{2})_(?P<gender>[FM])(?P<number>\d{3})$")
DEMO_MARKER = "vamer_demo.json"


@dataclass(frozen=True)
class AnnotationLayout:
    """Column indices of one annotation file, found from its two header rows."""

    segment: int
    emotion: int
    valence: int
    arousal: int
    start: int | None
    end: int | None
    evaluators: tuple[tuple[str, int], ...]  # (evaluator id, index of its emotion column)

    @property
    def required_width(self) -> int:
        return max(self.segment, self.emotion, self.valence, self.arousal) + 1


def _key(cell: str) -> str:
    return re.sub(r"[^a-z]", "", cell.lower())


def _triple(header2: list[str], first: int) -> dict[str, int]:
    """Map emotion/valence/arousal to column indices for the group starting at ``first``."""
    names = [_key(header2[i]) if i < len(header2) else "" for i in range(first, first + 3)]
    if sorted(names) == ["arousal", "emotion", "valence"]:
        return {name: first + offset for offset, name in enumerate(names)}
    # Header without sub-names: the documented order of KEMDy (emotion, valence, arousal).
    return {"emotion": first, "valence": first + 1, "arousal": first + 2}


def parse_layout(header1: list[str], header2: list[str]) -> AnnotationLayout:
    keys = [_key(cell) for cell in header1]
    if "segmentid" not in keys:
        raise VamerError("annotation header has no 'Segment ID' column")
    segment = keys.index("segmentid")
    total_at = next((i for i, k in enumerate(keys) if k.startswith("totalevaluation")), None)
    if total_at is None:
        raise VamerError("annotation header has no 'Total Evaluation' column")
    total = _triple(header2, total_at)
    wav_at = next((i for i, k in enumerate(keys) if k.startswith("wav")), None)
    evaluators = []
    for index in range(total_at + 3, len(header1)):
        name = header1[index].strip()
        if name:
            evaluators.append((name, _triple(header2, index)["emotion"]))
    return AnnotationLayout(
        segment=segment,
        emotion=total["emotion"],
        valence=total["valence"],
        arousal=total["arousal"],
        start=wav_at,
        end=None if wav_at is None else wav_at + 1,
        evaluators=tuple(evaluators),
    )


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _votes(row: list[str], layout: AnnotationLayout) -> str:
    counts: Counter[str] = Counter()
    for _, column in layout.evaluators:
        known, _unknown = parse_emotions(_cell(row, column))
        counts.update(known)
    return json.dumps(dict(counts.most_common()), ensure_ascii=False)


def _process_annotation_row(
    ledger: RowLedger,
    config: DataConfig,
    row: list[str],
    layout: AnnotationLayout,
    source: str,
    utt_id: str,
    wav_candidates: list[Path],
    fields: dict[str, Any],
) -> None:
    """Checks common to KEMDy19 and KEMDy20 once the id is known; keeps or skips the row."""
    wav_path = next((path for path in wav_candidates if path.is_file()), wav_candidates[0])
    raw = RawRow(
        utt_id,
        source,
        _cell(row, layout.emotion),
        {name: _cell(row, getattr(layout, name)) for name in ("arousal", "valence")},
        wav_path,
        None,
        {
            **fields,
            "emotion_votes": _votes(row, layout),
            "start_s": _float_or_nan(_cell(row, layout.start)),
            "end_s": _float_or_nan(_cell(row, layout.end)),
        },
    )
    keep_if_valid(ledger, config, raw)


def annotation_files(folder: Path) -> list[Path]:
    """The ``.csv`` files of ``folder/annotation``, suffix in any case (``Sess01_eval.CSV`` too)."""
    annotation = folder / "annotation"
    if not annotation.is_dir():
        return []
    return sorted(path for path in annotation.iterdir() if path.suffix.lower() == ".csv" and path.is_file())


def _data_line(line: str) -> bool:
    """A physical line that holds something: not empty, not only commas and spaces (a spreadsheet's blank row)."""
    return bool(line.strip(" \t,\r\n"))


def _header_rows(records: list[CsvRecord]) -> int:
    # KEMDy writes two header rows (group names, then start/end and Emotion/Valence/Arousal); a
    # file whose second row already holds a segment id has only the first.
    if (
        len(records) >= 2
        and records[1].fields
        and any(KEMDY20_ID.match(cell.strip()) or KEMDY19_ID.match(cell.strip()) for cell in records[1].fields)
    ):
        return 1
    return 2


def _walk_annotation(path: Path, root: Path, ledger: RowLedger):
    """Yield (row, layout, source) for each data line that can be read; skip every other one with its reason.

    The file is read line by line (no KEMDy field holds a line break), so one unbalanced quote, an
    over-long field or a bare carriage return costs only its own line.  ``ledger.source_rows``
    grows by the file's data lines, counted from the text alone, so that kept + skipped =
    source rows checks this walk.
    """
    relative = path.relative_to(root).as_posix()
    try:
        text, encoding = decode(path.read_bytes())
    except OSError as error:
        raise VamerError(f"{relative}: cannot read ({error.strerror or error})") from None
    lines = physical_lines(text)
    records = read_records(text, one_line_records=True)
    header_rows = _header_rows(records)
    data = [record for record, line in zip(records[header_rows:], lines[header_rows:]) if _data_line(line)]
    ledger.source_rows += len(data)  # every data line of the text, whatever the parser made of it
    try:
        if encoding is None:
            raise VamerError("the file is neither UTF-8 nor cp949")
        if (
            not records
            or records[0].fields is None
            or (header_rows == 2 and len(records) > 1 and records[1].fields is None)
        ):
            raise VamerError("empty or unparseable header")
        layout = parse_layout(records[0].fields, records[1].fields if header_rows == 2 and len(records) > 1 else [])
    except VamerError as error:
        for record in data:
            ledger.skip(None, f"{relative}:{record.lines}", Reason.malformed_row, f"unreadable header: {error}")
        return
    for record in data:
        source = f"{relative}:{record.lines}"
        if record.fields is None:
            ledger.skip(None, source, Reason.unreadable_row, record.problem)
            continue
        row = record.fields
        if len(row) < layout.required_width:
            ledger.skip(
                _cell(row, layout.segment) or None,
                source,
                Reason.malformed_row,
                f"{len(row)} fields, need {layout.required_width}",
            )
            continue
        yield row, layout, source


def is_demo(root: Path) -> bool:
    """Whether ``root`` is vamer's synthetic demo corpus (it holds the demo marker)."""
    return (Path(root) / DEMO_MARKER).is_file()


def dataset_name(root: Path, base: str) -> str:
    return f"{base} (synthetic demo)" if is_demo(root) else base


# What a flavour decides for one row: where its wav may be and its identity fields, or (when the
# row belongs to another file, as in KEMDy19) why it is skipped here.
Placement = tuple[list[Path], dict[str, Any]]
Elsewhere = tuple[Reason, str]


def _read_kemdy(
    root: Path,
    config: DataConfig,
    base_name: str,
    annotation_pattern: re.Pattern[str],
    id_pattern: re.Pattern[str],
    expected: str,
    place: Callable[[re.Match[str], re.Match[str], str], Placement | Elsewhere],
) -> RowLedger:
    files, ignored = [], []
    for path in annotation_files(root):
        match = annotation_pattern.match(path.name)
        (files if match else ignored).append((path, match))
    if not files:
        raise VamerError(f"{root}: no {expected} files (not a {base_name} folder)")
    ledger = RowLedger()
    ledger.notes.extend(f"annotation/{path.name} not read: its name is not {expected}" for path, _ in ignored)
    name = dataset_name(root, base_name)
    for path, file_match in files:
        for row, layout, source in _walk_annotation(path, root, ledger):
            utt_id = _cell(row, layout.segment)
            match = id_pattern.match(utt_id)
            if not match:
                ledger.skip(utt_id or None, source, Reason.bad_segment_id, f"{utt_id!r}")
                continue
            placed = place(file_match, match, utt_id)
            if isinstance(placed[0], Reason):
                ledger.skip(utt_id, source, *placed)
                continue
            if not ledger.claim_id(utt_id, source):
                continue
            wav_candidates, fields = placed
            _process_annotation_row(
                ledger, config, row, layout, source, utt_id, wav_candidates, {"dataset": name, **fields}
            )
    return ledger


def read_kemdy20(root: Path, config: DataConfig) -> RowLedger:
    def place(file_match: re.Match[str], match: re.Match[str], utt_id: str) -> Placement:
        # Sess17_eval.csv names some segments Sess42_...: the file's session is the truth,
        # and the wav may sit under either session folder or carry either prefix.
        file_session, id_session = file_match["session"], match["session"]
        renamed = f"Sess{file_session}" + utt_id[len(f"Sess{id_session}") :]
        wav_candidates = [
            root / "wav" / f"Session{file_session}" / f"{utt_id}.wav",
            root / "wav" / f"Session{id_session}" / f"{utt_id}.wav",
            root / "wav" / f"Session{file_session}" / f"{renamed}.wav",
        ]
        return wav_candidates, {
            "session": f"Sess{file_session}",
            "speaker": match["speaker"],
            "gender": match["gender"],
            "script": match["script"],
        }

    return _read_kemdy(root, config, "KEMDy20", KEMDY20_ANNOTATION, KEMDY20_ID, "annotation/SessNN_eval.csv", place)


def read_kemdy19(root: Path, config: DataConfig) -> RowLedger:
    def place(file_match: re.Match[str], match: re.Match[str], utt_id: str) -> Placement | Elsewhere:
        file_gender = file_match["gender"].upper()
        if match["gender"] != file_gender:
            return Reason.other_gender_file, f"{match['gender']} segment in the {file_gender} file"
        session = f"Sess{match['session']}"
        folder = f"{session}_{match['script']}"
        wav = root / "wav" / f"Session{match['session']}" / folder / f"{utt_id}.wav"
        return [wav], {
            "session": session,
            "speaker": f"{session}_{match['gender']}",
            "gender": match["gender"],
            "script": match["script"],
        }

    return _read_kemdy(
        root, config, "KEMDy19", KEMDY19_ANNOTATION, KEMDY19_ID, "annotation/SessionNN_[F|M]_res.csv", place
    )

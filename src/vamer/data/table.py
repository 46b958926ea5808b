"""The utterance table: the data contract between the dataset readers and every later stage.

``LoadResult.utterances`` has one row per kept utterance with the columns of
:data:`UTTERANCE_COLUMNS`; ``LoadResult.skipped`` has one row per source row that was not kept,
with a :class:`Reason`.  Kept + skipped = every source row: readers count their source rows
apart from parsing them (KEMDy: the data lines of each annotation file), and
``LoadResult.unaccounted`` says how many were neither kept nor skipped, which is always 0 unless
a reader has a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vamer.reasons import Reason

TEXT_SOURCES = ("given", "asr", "none")  # where an utterance's text came from (column text_source)

UTTERANCE_COLUMNS: dict[str, str] = {
    "utt_id": "unique id of the utterance (the KEMDy segment id, e.g. Sess01_script01_User001F_013)",
    "dataset": "KEMDy20, KEMDy19, manifest, or KEMDy20 (synthetic demo)",
    "session": "recording session (Sess01 ...); speakers never span sessions in KEMDy",
    "speaker": "speaker id (KEMDy20 User001F; KEMDy19 Sess01_F; manifest as given)",
    "gender": "F or M when known",
    "script": "script or improvisation id within the session (script01, impro02)",
    "audio_path": "absolute path of the wav file",
    "text_raw": "transcript as written, tags included",
    "text": "transcript with the tags c/ n/ N/ u/ l/ b/ * + / removed",
    "text_source": "where the text came from: given (the corpus's own), asr (recognised: a manifest "
    "`vamer data transcribe` wrote) or none (empty text)",
    "emotion": "canonical class label after the multi-label policy",
    "emotion_raw": "emotion as written in the annotation (e.g. 'disqust', 'happy;neutral')",
    "emotion_votes": 'JSON object of per-evaluator emotion votes, e.g. {"neutral": 7, "happy": 3}',
    "arousal": "mean arousal rating (1-5), NaN when the source has none",
    "valence": "mean valence rating (1-5), NaN when the source has none",
    "start_s": "segment start in its recording, seconds (NaN for manifests)",
    "end_s": "segment end in its recording, seconds (NaN for manifests)",
    "duration_s": "audio duration read from the wav header",
    "sample_rate": "sample rate read from the wav header",
    "channels": "channel count read from the wav header",
    "source": "where the row came from: annotation or manifest file and row number",
}

SKIPPED_COLUMNS: dict[str, str] = {
    "utt_id": "segment id when the row has one, else empty",
    "source": "file and row number of the source row",
    "reason": "a Reason value",
    "detail": "human-readable explanation",
}

BIO_COLUMNS: dict[str, str] = {
    "utt_id": "segment the sample falls in; missing for samples between segments",
    "session": "session of the recording",
    "speaker": "speaker wearing the sensor",
    "recording": "the file's name without suffix (one speaker, one script), e.g. Sess01_script01_User001F",
    "signal": "EDA, TEMP, IBI or ECG",
    "timestamp": "absolute sample time",
    "t": "seconds since the first sample of the same file",
    "value": "EDA microsiemens, TEMP degrees C, IBI seconds, ECG raw units",
}


# The data stages' skip reasons are the shared vocabulary of :mod:`vamer.reasons`.


@dataclass
class LoadResult:
    """What a reader returns: kept utterances, skipped rows, and bio-signals when present."""

    utterances: pd.DataFrame
    skipped: pd.DataFrame
    dataset: str
    format: str
    root: str
    classes: list[str]
    bio: pd.DataFrame | None = None
    bio_issues: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    source_rows: int = 0
    synthetic: bool = False  # vamer's synthetic demo corpus (its folder holds the demo marker)

    @property
    def unaccounted(self) -> int:
        """Source rows neither kept nor skipped (0 unless a reader lost rows)."""
        return self.source_rows - len(self.utterances) - len(self.skipped)


class RowLedger:
    """Collects kept rows and skipped rows while a reader walks its sources."""

    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self._seen_ids: set[str] = set()
        self.source_rows = 0  # counted by the reader from its sources, not from the two lists above
        self.notes: list[str] = []

    def skip(self, utt_id: str | None, source: str, reason: Reason, detail: str = "") -> None:
        self.skipped.append(
            {"utt_id": utt_id or "", "source": source, "reason": reason.value, "detail": detail or reason.meaning}
        )

    def claim_id(self, utt_id: str, source: str) -> bool:
        """Record ``utt_id``; a repeat is skipped as ``duplicate_id`` and returns False."""
        if utt_id in self._seen_ids:
            self.skip(utt_id, source, Reason.duplicate_id)
            return False
        self._seen_ids.add(utt_id)
        return True

    def keep(self, row: dict[str, Any]) -> None:
        self.kept.append(row)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        utterances = pd.DataFrame(self.kept, columns=list(UTTERANCE_COLUMNS))
        for column in ("arousal", "valence", "start_s", "end_s", "duration_s"):
            utterances[column] = pd.to_numeric(utterances[column], errors="coerce").astype("float64")
        for column in ("sample_rate", "channels"):
            utterances[column] = utterances[column].astype("int64")
        skipped = pd.DataFrame(self.skipped, columns=list(SKIPPED_COLUMNS))
        return utterances.reset_index(drop=True), skipped.reset_index(drop=True)

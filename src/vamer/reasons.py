"""One vocabulary for why an utterance or a clip cannot be used, shared by every stage.

The skip report of ``vamer data check`` and of feature extraction (``Reason``), the audio
errors of feature extraction (``AudioError.reason``), the predictor's error kinds
(``PredictionError.kind``, the ``error_kind`` column of ``vamer predict``) and the service's HTTP
status all come from the table below, so a reason means the same thing wherever it appears.

>>> Reason.silent.meaning, Reason.silent.http_status
('the audio is silent (peak below the preset threshold)', 422)
>>> Reason("too_large").http_status
413
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A short code for the skip report, ``error_kind`` and the service's answers."""

    # Annotation rows (stage 1: the readers).
    malformed_row = "malformed_row"
    unreadable_row = "unreadable_row"
    bad_segment_id = "bad_segment_id"
    duplicate_id = "duplicate_id"
    other_gender_file = "other_gender_file"
    unknown_label = "unknown_label"
    multi_label = "multi_label"
    out_of_class = "out_of_class"
    missing_ratings = "missing_ratings"
    invalid_ratings = "invalid_ratings"
    missing_transcript = "missing_transcript"
    undecodable_transcript = "undecodable_transcript"
    bad_text_source = "bad_text_source"
    # Audio (the readers check the header, features and predictions decode it).
    missing_wav = "missing_wav"
    unreadable_wav = "unreadable_wav"
    empty_wav = "empty_wav"
    too_short = "too_short"
    silent = "silent"
    non_finite_audio = "non_finite_audio"
    out_of_range_audio = "out_of_range_audio"
    # A prediction's input.
    not_found = "not_found"
    not_a_file = "not_a_file"
    unreadable_file = "unreadable_file"
    bad_audio = "bad_audio"
    too_long = "too_long"
    too_large = "too_large"
    sample_rate = "sample_rate"
    bad_text = "bad_text"
    text_too_long = "text_too_long"
    non_finite_output = "non_finite_output"
    # A timeline's transcript.
    bad_transcript = "bad_transcript"
    transcript_past_audio = "transcript_past_audio"
    # Speaker context (profiles and groups of clips).
    too_few_clips = "too_few_clips"
    bad_speaker = "bad_speaker"
    unknown_speaker = "unknown_speaker"
    internal_error = "internal_error"

    @property
    def meaning(self) -> str:
        return _TABLE[self][0]

    @property
    def http_status(self) -> int:
        """What the service answers a request that fails for this reason."""
        return _TABLE[self][1]


UNPROCESSABLE, UNSUPPORTED_MEDIA, BAD_REQUEST, TOO_LARGE, SERVER_ERROR, NOT_FOUND = 422, 415, 400, 413, 500, 404

# reason -> (what it means, HTTP status).  Rows of a dataset never reach the service; their status
# is what a request would get if it ever did.
_TABLE: dict[Reason, tuple[str, int]] = {
    Reason.malformed_row: ("row has too few fields, or more than the header", UNPROCESSABLE),
    Reason.unreadable_row: (
        "row is not valid CSV (unbalanced quote, field over the size limit, stray line break)",
        UNPROCESSABLE,
    ),
    Reason.bad_segment_id: ("segment id does not follow the dataset's pattern", UNPROCESSABLE),
    Reason.duplicate_id: ("the same id appeared earlier; the first occurrence wins", UNPROCESSABLE),
    Reason.other_gender_file: (
        "KEMDy19 rates both speakers in each gender's file; the row belongs to the other file",
        UNPROCESSABLE,
    ),
    Reason.unknown_label: ("emotion is empty or not one of the 7 KEMDy labels", UNPROCESSABLE),
    Reason.multi_label: ("several emotions tied and the multi-label policy drops them", UNPROCESSABLE),
    Reason.out_of_class: ("emotion is valid but outside the configured class set", UNPROCESSABLE),
    Reason.missing_ratings: ("arousal or valence is empty", UNPROCESSABLE),
    Reason.invalid_ratings: ("arousal or valence is not a number in 1-5", UNPROCESSABLE),
    Reason.missing_transcript: ("transcript file not found", UNPROCESSABLE),
    Reason.undecodable_transcript: ("transcript is neither UTF-8 nor cp949", UNPROCESSABLE),
    Reason.bad_text_source: ("a manifest's text_source is not given, asr or none", UNPROCESSABLE),
    Reason.missing_wav: ("wav file not found", UNPROCESSABLE),
    Reason.unreadable_wav: ("wav file cannot be decoded", UNSUPPORTED_MEDIA),
    Reason.empty_wav: ("wav file has no samples", BAD_REQUEST),
    Reason.too_short: ("the audio is shorter than one analysis frame", UNPROCESSABLE),
    Reason.silent: ("the audio is silent (peak below the preset threshold)", UNPROCESSABLE),
    Reason.non_finite_audio: ("the audio holds NaN or infinite samples", UNPROCESSABLE),
    Reason.out_of_range_audio: ("the audio holds float samples beyond 10,000 times full scale", UNPROCESSABLE),
    Reason.not_found: ("no file at that path", UNPROCESSABLE),
    Reason.not_a_file: ("the path is a folder, a FIFO or another non-regular file", UNPROCESSABLE),
    Reason.unreadable_file: ("the file cannot be opened (permissions, name too long)", UNPROCESSABLE),
    Reason.bad_audio: ("the audio argument is not a path, bytes or an [n] / [n, channels] array", UNSUPPORTED_MEDIA),
    Reason.too_long: ("the recording is longer than the predictor's limit", UNPROCESSABLE),
    Reason.too_large: ("decoding the part the model reads would exceed the predictor's memory limit", TOO_LARGE),
    Reason.sample_rate: ("the sample rate is below what the model's mel bands need", UNPROCESSABLE),
    Reason.bad_text: ("the text is not a string", UNPROCESSABLE),
    Reason.text_too_long: ("the text is longer than the predictor's limit", UNPROCESSABLE),
    Reason.non_finite_output: (
        "the model produced NaN or infinite outputs for this input; no label is given",
        SERVER_ERROR,
    ),
    Reason.bad_transcript: (
        "the timeline's transcript is not UTF-8 SRT or WebVTT with at least one cue",
        UNPROCESSABLE,
    ),
    Reason.transcript_past_audio: ("the timeline's transcript runs past the end of the recording", UNPROCESSABLE),
    Reason.too_few_clips: ("a speaker profile needs more usable clips than were given", UNPROCESSABLE),
    Reason.bad_speaker: (
        "a speaker id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        UNPROCESSABLE,
    ),
    Reason.unknown_speaker: ("no speaker profile by that id (for this API key)", NOT_FOUND),
    Reason.internal_error: ("an unexpected error; please report it", SERVER_ERROR),
}


class ReasonedError(Exception):
    """An error that says why with a :class:`Reason` (``reason``) and how with its message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = Reason(reason)

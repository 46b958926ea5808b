"""One vocabulary for why an utterance or a clip cannot be used, shared by every stage.

The skip report of ``vamer data check`` and of feature extraction (``Reason``), the audio
errors of feature extraction (``AudioError.reason``) and the predictor's error kinds
(``PredictionError.kind``, the ``error_kind`` column of ``vamer predict``, the service's refusals)
all come from the table below, so a reason means the same thing wherever it appears.  Which HTTP
status the service answers a reason with is the service's own business (:mod:`vamer.serving.forms`).

>>> Reason.silent.meaning
'the audio is silent (peak below the preset threshold)'
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
        return _TABLE[self]


# reason -> what it means.
_TABLE: dict[Reason, str] = {
    Reason.malformed_row: "row has too few fields, or more than the header",
    Reason.unreadable_row: "row is not valid CSV (unbalanced quote, field over the size limit, stray line break)",
    Reason.bad_segment_id: "segment id does not follow the dataset's pattern",
    Reason.duplicate_id: "the same id appeared earlier; the first occurrence wins",
    Reason.other_gender_file: "KEMDy19 rates both speakers in each gender's file; the row belongs to the other file",
    Reason.unknown_label: "emotion is empty or not one of the 7 KEMDy labels",
    Reason.multi_label: "several emotions tied and the multi-label policy drops them",
    Reason.out_of_class: "emotion is valid but outside the configured class set",
    Reason.missing_ratings: "arousal or valence is empty",
    Reason.invalid_ratings: "arousal or valence is not a number in 1-5",
    Reason.missing_transcript: "transcript file not found",
    Reason.undecodable_transcript: "transcript is neither UTF-8 nor cp949",
    Reason.bad_text_source: "a manifest's text_source is not given, asr or none",
    Reason.missing_wav: "wav file not found",
    Reason.unreadable_wav: "wav file cannot be decoded",
    Reason.empty_wav: "wav file has no samples",
    Reason.too_short: "the audio is shorter than one analysis frame",
    Reason.silent: "the audio is silent (peak below the preset threshold)",
    Reason.non_finite_audio: "the audio holds NaN or infinite samples",
    Reason.out_of_range_audio: "the audio holds float samples beyond 10,000 times full scale",
    Reason.not_found: "no file at that path",
    Reason.not_a_file: "the path is a folder, a FIFO or another non-regular file",
    Reason.unreadable_file: "the file cannot be opened (permissions, name too long)",
    Reason.bad_audio: "the audio argument is not a path, bytes or an [n] / [n, channels] array",
    Reason.too_long: "the recording is longer than the predictor's limit",
    Reason.too_large: "decoding the part the model reads would exceed the predictor's memory limit",
    Reason.sample_rate: "the sample rate is below what the model's mel bands need",
    Reason.bad_text: "the text is not a string",
    Reason.text_too_long: "the text is longer than the predictor's limit",
    Reason.non_finite_output: "the model produced NaN or infinite outputs for this input; no label is given",
    Reason.bad_transcript: "the timeline's transcript is not UTF-8 SRT or WebVTT with at least one cue",
    Reason.transcript_past_audio: "the timeline's transcript runs past the end of the recording",
    Reason.too_few_clips: "a speaker profile needs more usable clips than were given",
    Reason.bad_speaker: "a speaker id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    Reason.unknown_speaker: "no speaker profile by that id (for this API key)",
    Reason.internal_error: "an unexpected error; please report it",
}


class ReasonedError(Exception):
    """An error that says why with a :class:`Reason` (``reason``) and how with its message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = Reason(reason)

"""The service's forms: the fields each route reads, checked, and their OpenAPI schemas; and the
HTTP status of each reason a prediction is refused for.

>>> status_for("unreadable_wav"), status_for("too_long")
(415, 422)
"""

from __future__ import annotations

from vamer.inference.intake import PredictionError
from vamer.inference.profiles import check_speaker_id
from vamer.reasons import Reason
from vamer.serving.uploads import Refused

# What the service answers a request refused for each reason a request can meet (the rest concern a
# corpus's rows or a local path, which no request carries).
HTTP_STATUS: dict[Reason, int] = {
    **dict.fromkeys(
        (
            Reason.too_short,
            Reason.silent,
            Reason.non_finite_audio,
            Reason.out_of_range_audio,
            Reason.too_long,
            Reason.sample_rate,
            Reason.bad_text,
            Reason.text_too_long,
            Reason.bad_transcript,
            Reason.transcript_past_audio,
            Reason.too_few_clips,
            Reason.bad_speaker,
        ),
        422,
    ),
    Reason.unreadable_wav: 415,
    Reason.bad_audio: 415,
    Reason.empty_wav: 400,
    Reason.too_large: 413,
    Reason.unknown_speaker: 404,
    Reason.non_finite_output: 500,
    Reason.internal_error: 500,
}


def status_for(kind: str) -> int:
    """The HTTP status of a request refused for ``kind`` (422 for a reason no request should meet)."""
    return HTTP_STATUS.get(Reason(kind), 422)


def check_speaker_id_or_refuse(speaker: str) -> None:
    try:
        check_speaker_id(speaker)
    except PredictionError as error:
        raise Refused(status_for(error.kind), str(error)) from None


MAX_ENROL_CLIPS = 64


def text_field(fields: dict[str, tuple[str | None, bytes]], name: str) -> str | None:
    """A form's text field, UTF-8, or None when absent or empty."""
    if name not in fields:
        return None
    try:
        return fields[name][1].decode("utf-8").strip() or None
    except UnicodeDecodeError:
        raise Refused(422, f"field {name!r} is not UTF-8") from None


def count_field(fields: dict[str, tuple[str | None, bytes]], name: str) -> int | None:
    """A form's whole-number field from 1 to 20, or None when absent."""
    value = text_field(fields, name)
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 20:
        raise Refused(422, f"field {name!r} must be a whole number from 1 to 20, not {value[:20]!r}")
    return int(value)


def audio_and_text(fields: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str | None]:
    """``/predict``'s form: the ``audio`` file and the ``text`` field, checked."""
    if "audio" not in fields:
        raise Refused(422, "missing file field 'audio' (a wav file)")
    text = None
    if "text" in fields:
        try:
            text = fields["text"][1].decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(422, "field 'text' is not UTF-8; send the transcript as UTF-8") from None
    return fields["audio"][1], text or None


def multipart_form(properties: dict[str, dict]) -> dict:
    """The OpenAPI ``requestBody`` of a multipart form with these fields (``audio`` required)."""
    schema = {"type": "object", "required": ["audio"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


FORM_SCHEMA = multipart_form(
    {
        "audio": {"type": "string", "format": "binary", "description": "a wav file"},
        "text": {"type": "string", "description": "the transcript (optional)"},
        "speaker": {
            "type": "string",
            "description": "an enrolled speaker profile's id (optional): the "
            "clip is normalised by that speaker's statistics",
        },
    }
)

ENROL_FORM = multipart_form(
    {
        "audio": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": f"clips of the speaker (the field repeated, up to {MAX_ENROL_CLIPS})",
        }
    }
)

TIMELINE_FORM = multipart_form(
    {
        "audio": {"type": "string", "format": "binary", "description": "a recording (wav, flac, ogg)"},
        "transcript": {
            "type": "string",
            "format": "binary",
            "description": "a time-aligned transcript, .srt or .vtt (optional)",
        },
        "speakers": {
            "type": "integer",
            "description": "how many voices the recording holds (optional; default: estimated)",
        },
    }
)

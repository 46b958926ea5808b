"""The REST service: FastAPI over one :class:`~vamer.inference.predictor.Predictor`.

    GET  /          the web page (choose or record a wav, type the transcript, see the result)
    GET  /health    status, vamer version, classes, engine, limits
    POST /predict   multipart form: ``audio`` (a wav file), optional ``text`` -> the JSON of predict
    POST /predict   ... with an optional ``speaker``: an enrolled profile's id (speaker context)
    POST /timeline  multipart form: ``audio`` (a long recording), optional ``transcript`` (a .srt or
                    .vtt file) and ``speakers`` (how many voices) -> its timeline
                    (:class:`vamer.timeline.result.Timeline`)
    PUT  /speakers/{id}     multipart form: ``audio`` repeated, a few clips of one speaker -> enrols
                    (or replaces) that speaker's profile
    GET  /speakers          the profiles of the caller (their API key's): id, clips, date
    DELETE /speakers/{id}   deletes one
    GET  /docs      OpenAPI documentation (schema at /openapi.json; Swagger UI's files are served
                    from /docs-assets, so the page works offline)

Bad requests get a 4xx with ``{"detail": message}``, never a 500: 413 for an upload over the size
limit or audio that would decode past the sample budget, 415 for content that is not readable
audio, 422 for missing fields, a too long recording, a too low sample rate, NaN or infinite
samples, too much text or text that is not UTF-8, 400 for an empty file or a form the multipart
parser rejects, that ends before its closing boundary or that has more than ``max_form_parts``
parts, 408 for a body that does not arrive in time or arrives slower than the rate floor (after
``rate_grace_s``) or in a flood of tiny pieces, 401 for a missing or wrong API key (when the
service has one), 400 for a Host header the service does not answer to, and 503 when the uploads
in memory fill ``max_buffered_mb`` or the timeline builder stays busy.  How uploads are read is in
:mod:`vamer.serving.uploads`.  The model loads once; predictions, timelines and transcript parsing
run in worker threads (at most ``concurrency`` predictions at a time) so the event loop keeps
answering (:mod:`vamer.serving.work`).  Every response carries security headers
(:mod:`vamer.serving.security`); each route's fields are read by :mod:`vamer.serving.forms`.
How the server itself guards its connections is in :mod:`vamer.serving.server`.

>>> from vamer.serving.app import status_for
>>> status_for("unreadable_wav"), status_for("too_long")
(415, 422)
"""

from __future__ import annotations

from dataclasses import asdict
from importlib import resources
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

import vamer
from vamer.inference.predictor import PredictionError, Predictor
from vamer.inference.profiles import ProfileStore, owner_of
from vamer.inference.result import ErrorAnswer, PredictionResult
from vamer.limits import ServiceLimits
from vamer.serving.forms import (
    ENROL_FORM,
    FORM_SCHEMA,
    MAX_ENROL_CLIPS,
    TIMELINE_FORM,
    audio_and_text,
    check_speaker_id_or_refuse,
    count_field,
    status_for,
    text_field,
)
from vamer.serving.security import LOOPBACK_HOSTS, presented_key, secure
from vamer.serving.uploads import Form, Refused, UploadBudget, UploadRules, read_form, too_large
from vamer.serving.work import NDJSON, cues_within, streamed, while_connected
from vamer.timeline.build import TimelineOptions, build_timeline, open_recording
from vamer.timeline.result import Timeline
from vamer.timeline.transcript import check_cues_fit

__all__ = ["LOOPBACK_HOSTS", "ServiceLimits", "create_app", "status_for"]


def create_app(
    predictor: Predictor,
    limits: ServiceLimits | None = None,
    api_key: str | list[str] | None = None,
    allowed_hosts: list[str] | None = None,
    profiles: ProfileStore | None = None,
) -> FastAPI:
    """The service.  ``api_key`` (one, or a list: one per client): when given, ``POST /predict``,
    ``/timeline`` and ``/speakers`` need one of them (``Authorization: Bearer KEY`` or ``X-API-Key:
    KEY``); the page, /health and /docs stay open.
    ``allowed_hosts``: the Host header values answered (DNS rebinding: a web page elsewhere reaching
    a loopback service through a name of its own); ``None`` answers any.  ``profiles``: where
    enrolled speakers live (None: profiles are refused); each API key sees only its own."""
    limits = limits or ServiceLimits()
    gate = anyio.CapacityLimiter(limits.concurrency)
    budget = UploadBudget(held_most=limits.max_buffered_mb * 2**20, uploads_at_floor=limits.max_uploads)
    timelines = anyio.Semaphore(limits.timelines)  # released by whichever task ends the work
    upload_limit = {"/predict": limits.max_upload_bytes, "/timeline": limits.max_timeline_upload_bytes}
    app = FastAPI(
        title="vamer",
        version=vamer.__version__,
        docs_url=None,
        redoc_url=None,
        description="Speech + text emotion recognition (Korean). Model: "
        f"{predictor.bundle.preset.name} preset, classes {', '.join(predictor.classes)}.",
    )
    page = resources.files("vamer.serving").joinpath("static/index.html").read_text(encoding="utf-8")
    # One key or several (one per client): each key's speaker profiles are its own.
    keys = [k.encode("utf-8") for k in ([api_key] if isinstance(api_key, str) else list(api_key or [])) if k]
    key = keys or None

    def keyed(path: str) -> bool:
        return path in upload_limit or path == "/speakers" or path.startswith("/speakers/")

    secure(app, page, key, keyed, allowed_hosts)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=headers)

    @app.middleware("http")
    async def upload_size(request: Request, call_next):
        # Refuse from the header before a byte of the body is parsed; bodies sent without a length
        # are measured again as they arrive (vamer.serving.uploads).
        path = request.url.path
        length = request.headers.get("content-length")
        most = upload_limit.get(path, limits.max_upload_bytes if path.startswith("/speakers/") else None)
        if most is not None and length and length.isdigit() and int(length) > most:
            return JSONResponse({"detail": too_large(int(length), most)}, status_code=413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "vamer_version": vamer.__version__,
            "classes": predictor.classes,
            "auth": "api_key" if key is not None else "none",
            "engine": predictor.engine.name,
            "device": str(getattr(predictor.engine, "device", "cpu")),
            "preset": predictor.bundle.preset.name,
            "regressors": predictor.bundle.regressors,
            "limits": {**asdict(limits), **asdict(predictor.limits)},
        }

    async def form_of(
        request: Request, most: int, max_parts: int | None = None, caps: dict[str, int] | None = None
    ) -> Form:
        """The request's form (:mod:`vamer.serving.uploads` says how it is read); the caller releases it."""
        rules = UploadRules(
            most=most,
            max_parts=max_parts or limits.max_form_parts,
            field_caps=caps or {},
            body_timeout_s=limits.body_timeout_s,
            min_body_rate_bps=limits.min_body_rate_bps,
            rate_grace_s=limits.rate_grace_s,
            min_mean_chunk_bytes=limits.min_mean_chunk_bytes,
            queue_timeout_s=limits.queue_timeout_s,
        )
        try:
            return await read_form(request.stream(), request.headers.get("content-type", ""), rules, budget)
        except ClientDisconnect:
            raise Refused(400, "the client left before its upload arrived") from None

    @app.post(
        "/predict",
        openapi_extra=FORM_SCHEMA,
        response_model=PredictionResult,
        responses={status: {"model": ErrorAnswer} for status in (400, 401, 408, 413, 415, 422, 500, 503)},
    )
    async def predict(request: Request) -> dict[str, Any]:
        """Predict the emotion of one recording: form field ``audio`` (wav file), optional ``text``."""
        form = await form_of(request, limits.max_upload_bytes)
        # The form's bytes stay in the upload budget until the answer, so what waits for a
        # prediction thread is bounded too.
        try:
            audio, text = audio_and_text(form.fields)
            speaker = text_field(form.fields, "speaker")
            statistics = None
            if speaker is not None:
                statistics = await anyio.to_thread.run_sync(_profile, speaker, _owner(request))
            return await anyio.to_thread.run_sync(
                lambda: predictor.predict(audio, text, speaker=speaker, statistics=statistics), limiter=gate
            )
        except PredictionError as error:
            raise Refused(status_for(error.kind), str(error)) from None
        finally:
            form.release()

    async def timeline_slot(keep: bool) -> None:
        """Wait for the timeline builder (503 after ``queue_timeout_s``); ``keep``: take it (the
        caller releases it), else only wait until it is free, before an upload is read."""
        with anyio.move_on_after(limits.queue_timeout_s) as waiting:
            await timelines.acquire()
        if waiting.cancelled_caught:
            raise Refused(
                503,
                f"{limits.timelines} timeline(s) are being built and stayed busy for "
                f"{limits.queue_timeout_s:g} s; retry shortly",
            )
        if not keep:
            timelines.release()

    @app.post(
        "/timeline",
        openapi_extra=TIMELINE_FORM,
        response_model=Timeline,
        responses={
            200: {
                "content": {NDJSON: {"schema": {"type": "string"}}},
                "description": "With 'Accept: application/x-ndjson': one JSON line per step of "
                "progress ({phase, done, total}), then {timeline} or {error, "
                "error_kind, status}.",
            },
            **{status: {"model": ErrorAnswer} for status in (400, 401, 408, 413, 415, 422, 500, 503)},
        },
    )
    async def timeline(request: Request) -> Any:
        """The timeline of one long recording: its speech segments, each with the emotion the model
        gives it, and the silences between them.  Form field ``audio``, optional ``transcript`` (a
        time-aligned .srt or .vtt file, UTF-8) whose words go to the segments they fall in.  Sent
        with ``Accept: application/x-ndjson``, the answer streams the progress first."""
        # A busy builder is waited for before the upload is read (no one uploads an hour to hear 503),
        # but not held while it arrives: a client trickling its upload keeps no one else waiting.
        await timeline_slot(keep=False)
        accepted = limits.timeline()
        form = await form_of(
            request, limits.max_timeline_upload_bytes, caps={"transcript": accepted.max_transcript_bytes}
        )
        slot = handed_over = False
        try:
            fields = form.fields
            if "audio" not in fields:
                raise Refused(422, "missing file field 'audio' (a recording)")
            name, audio = fields["audio"]
            transcript, raw_cues = fields.get("transcript", (None, b""))
            cues = await cues_within(raw_cues, transcript or "", accepted, limits.transcript_timeout_s)
            # The recording and the transcript are checked before any answer starts: their refusals
            # are a 4xx whether the answer streams or not.
            recording = await anyio.to_thread.run_sync(open_recording, predictor, audio, accepted)
            if cues:
                check_cues_fit(cues, recording.seconds)
            speakers = count_field(fields, "speakers")
            await timeline_slot(keep=True)
            slot = True

            def work(progress=lambda phase, done, total: None) -> Timeline:
                options = TimelineOptions(speakers=speakers, source=name or "upload", transcript=transcript)
                return build_timeline(predictor, recording, cues, options, progress=progress)

            if NDJSON in request.headers.get("accept", ""):
                handed_over = True  # the stream ends the work and frees its slot and bytes

                def done() -> None:
                    timelines.release()
                    form.release()

                return StreamingResponse(streamed(work, done), media_type=NDJSON)
            result = await while_connected(request, work)
            if result is None:
                return JSONResponse({"detail": "the client left before its timeline was built"}, status_code=499)
            return result.model_dump(mode="json")
        except PredictionError as error:
            raise Refused(status_for(error.kind), str(error)) from None
        finally:
            if not handed_over:
                if slot:
                    timelines.release()
                form.release()

    def _owner(request: Request) -> str:
        return owner_of(presented_key(request) if key is not None else None)

    def _store() -> ProfileStore:
        if profiles is None or predictor.bundle.population is None:
            raise Refused(
                404,
                "this service keeps no speaker profiles (its bundle does not normalise per speaker, "
                "or it was started without a profiles file)",
            )
        return profiles

    def _profile(speaker: str, owner: str):
        return predictor.profile(_store(), speaker, owner)

    @app.put(
        "/speakers/{speaker}",
        openapi_extra=ENROL_FORM,
        responses={status: {"model": ErrorAnswer} for status in (400, 401, 404, 408, 413, 415, 422, 503)},
    )
    async def enrol(speaker: str, request: Request) -> dict[str, Any]:
        """Enrol (or replace) the caller's profile ``speaker`` from a few clips of that speaker: the
        form field ``audio`` once per clip.  Labels are never asked for; the clips are not kept."""
        check_speaker_id_or_refuse(speaker)
        store = _store()
        form = await form_of(request, limits.max_upload_bytes, max_parts=MAX_ENROL_CLIPS)
        try:
            clips = [data for name, _, data in form.parts if name == "audio"]
            if not clips:
                raise Refused(422, "send the speaker's clips as file fields named 'audio' (one per clip)")
            statistics, failed = await anyio.to_thread.run_sync(predictor.enrol, clips, limiter=gate)
            owner = _owner(request)
            await anyio.to_thread.run_sync(store.save, owner, speaker, statistics)
            return {"speaker": speaker, "clips": statistics.clips, "not_used": failed}
        except PredictionError as error:
            raise Refused(status_for(error.kind), str(error)) from None
        finally:
            form.release()

    @app.get("/speakers", responses={status: {"model": ErrorAnswer} for status in (401, 404)})
    async def speakers(request: Request) -> list[dict[str, Any]]:
        """The caller's profiles: id, clips, when enrolled, whether this model can use it."""
        return await anyio.to_thread.run_sync(_store().list, _owner(request))

    @app.delete("/speakers/{speaker}", responses={status: {"model": ErrorAnswer} for status in (401, 404, 422)})
    async def forget(speaker: str, request: Request) -> dict[str, Any]:
        """Delete the caller's profile ``speaker``."""
        check_speaker_id_or_refuse(speaker)
        if not await anyio.to_thread.run_sync(_store().delete, _owner(request), speaker):
            raise Refused(404, f"no speaker profile {speaker!r}")
        return {"deleted": speaker}

    return app

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
answering.  Every response
carries security headers (a Content-Security-Policy whose only inline code is the page's own, by
hash; ``X-Content-Type-Options``; ``X-Frame-Options``).  How the server itself guards its
connections is in :mod:`vamer.serving.server`.

>>> from vamer.serving.app import status_for
>>> status_for("unreadable_wav"), status_for("too_long")
(415, 422)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import math
import re
import threading
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Callable

import anyio
import anyio.lowlevel
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect

import vamer
from vamer.inference.predictor import PredictionError, Predictor
from vamer.inference.profiles import ProfileStore, check_speaker_id, owner_of
from vamer.inference.result import ErrorAnswer, PredictionResult
from vamer.reasons import Reason
from vamer.serving.uploads import Form, Refused, UploadBudget, UploadRules, read_form, too_large
from vamer.timeline.build import build_timeline, open_recording
from vamer.timeline.recording import TimelineLimits
from vamer.timeline.result import Timeline
from vamer.timeline.transcript import Cue, check_cues_fit, decode_cues


def status_for(kind: str) -> int:
    """The HTTP status of a prediction that failed for ``kind`` (the table in :mod:`vamer.reasons`)."""
    return Reason(kind).http_status


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 20 * 1024 * 1024
    concurrency: int = 2  # predictions running at once (each uses torch's intra-op threads)
    max_uploads: int = 16  # bodies arriving at once at the base rate floor; past it the floor rises with them
    max_buffered_mb: int = 512  # upload bytes held in memory by every request together; past it: wait, then 503
    queue_timeout_s: float = 30.0  # how long a request waits for room or for the timeline builder before its 503
    body_timeout_s: float = 30.0  # a body must arrive whole within this; else 408
    header_timeout_s: float = 10.0  # a request's head must arrive within this; else the connection closes
    max_connections: int = 256  # open connections; uvicorn answers 503 past this
    max_form_parts: int = 8  # a form has 2 fields; 400,000 tiny parts once kept the server busy 8.5 s
    min_body_rate_bps: int = 8 * 1024  # after rate_grace_s, a body slower than this on average gets 408
    rate_grace_s: float = 2.0
    min_mean_chunk_bytes: int = 64  # past 1,024 pieces, a body whose pieces average less gets 408
    max_timeline_upload_bytes: int = 256 * 1024 * 1024  # an hour of 16 kHz 16-bit stereo is 230 MB
    max_timeline_seconds: float = 3600.0
    # Samples a timeline decodes in all (float32): an hour of 48 kHz stereo is 1,382 MB.  Blocks are
    # read a few MB at a time whatever this is (TimelineLimits.max_block_mb).
    max_timeline_decoded_mb: float = 1_500.0
    transcript_timeout_s: float = 10.0  # a transcript must parse within this; else 422
    timelines: int = 1  # timelines built at once (each holds its recording in memory)

    def timeline(self) -> TimelineLimits:
        """What a timeline of this service accepts."""
        return TimelineLimits(max_seconds=self.max_timeline_seconds, max_decoded_mb=self.max_timeline_decoded_mb)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def inline_hashes(html: str, tag: str) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of every inline ``<tag>`` element of ``html``: what
    lets the page's own script and style run while any other inline code is refused.

    >>> inline_hashes("<script>f()</script>", "script")
    ["'sha256-..."]
    """
    bodies = re.findall(rf"<{tag}(?![^>]*\bsrc=)[^>]*>(.*?)</{tag}>", html, flags=re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode('utf-8')).digest()).decode()}'" for body in bodies]


def content_policy(html: str) -> str:
    """The Content-Security-Policy of an HTML page of the service: its own origin and inline code only."""
    scripts, styles = " ".join(inline_hashes(html, "script")), " ".join(inline_hashes(html, "style"))
    return (
        f"default-src 'self'; script-src 'self' {scripts}; style-src 'self' {styles}; "
        "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


API_POLICY = "default-src 'none'; frame-ancestors 'none'"


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
    policies = {"/": content_policy(page)}
    app.mount("/docs-assets", StaticFiles(directory=_swagger_assets()), name="docs-assets")
    # One key or several (one per client): each key's speaker profiles are its own.
    keys = [k.encode("utf-8") for k in ([api_key] if isinstance(api_key, str) else list(api_key or [])) if k]
    key = keys or None

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        path = request.url.path
        response.headers.setdefault(
            "Content-Security-Policy",
            policies.get(path, API_POLICY if not path.startswith("/docs-assets") else "default-src 'none'"),
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def keyed(path: str) -> bool:
        return path in upload_limit or path == "/speakers" or path.startswith("/speakers/")

    @app.middleware("http")
    async def require_key(request: Request, call_next):
        if key is not None and keyed(request.url.path):
            given = request.headers.get("x-api-key") or ""
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                given = token.strip()
            if not any([hmac.compare_digest(given.encode("utf-8"), one) for one in key]):
                return JSONResponse(
                    {
                        "detail": "this service needs an API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                        if not given
                        else "wrong API key"
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="vamer API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon-32x32.png",
        )
        policies["/docs"] = content_policy(html.body.decode("utf-8"))
        return html

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
        openapi_extra=_FORM_SCHEMA,
        response_model=PredictionResult,
        responses={status: {"model": ErrorAnswer} for status in (400, 401, 408, 413, 415, 422, 500, 503)},
    )
    async def predict(request: Request) -> dict[str, Any]:
        """Predict the emotion of one recording: form field ``audio`` (wav file), optional ``text``."""
        form = await form_of(request, limits.max_upload_bytes)
        # The form's bytes stay in the upload budget until the answer, so what waits for a
        # prediction thread is bounded too.
        try:
            audio, text = _audio_and_text(form.fields)
            speaker = _text_field(form.fields, "speaker")
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
        openapi_extra=_TIMELINE_FORM,
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
            cues = await _cues_within(raw_cues, transcript or "", accepted, limits.transcript_timeout_s)
            # The recording and the transcript are checked before any answer starts: their refusals
            # are a 4xx whether the answer streams or not.
            recording = await anyio.to_thread.run_sync(open_recording, predictor, audio, accepted)
            if cues:
                check_cues_fit(cues, recording.seconds)
            speakers = _count_field(fields, "speakers")
            await timeline_slot(keep=True)
            slot = True

            def work(progress=lambda phase, done, total: None) -> Timeline:
                return build_timeline(
                    predictor,
                    recording,
                    cues,
                    source=name or "upload",
                    transcript=transcript,
                    progress=progress,
                    speakers=speakers,
                )

            if NDJSON in request.headers.get("accept", ""):
                handed_over = True  # the stream ends the work and frees its slot and bytes

                def done() -> None:
                    timelines.release()
                    form.release()

                return StreamingResponse(_streamed(work, done), media_type=NDJSON)
            result = await _while_connected(request, work)
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
        given = request.headers.get("x-api-key") or ""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return owner_of((token.strip() if scheme.lower() == "bearer" else given) if key is not None else None)

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
        openapi_extra=_ENROL_FORM,
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


NDJSON = "application/x-ndjson"


def check_speaker_id_or_refuse(speaker: str) -> None:
    try:
        check_speaker_id(speaker)
    except PredictionError as error:
        raise Refused(status_for(error.kind), str(error)) from None


async def _cues_within(raw: bytes, name: str, accepted: TimelineLimits, timeout_s: float) -> list[Cue] | None:
    """A transcript's cues (None without one), parsed in a worker thread within ``accepted``'s size
    and cue count and ``timeout_s``: an 18 MB transcript parsed in the event loop once kept every
    endpoint waiting 59 s."""
    if not raw:
        return None
    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(decode_cues, raw, name, accepted, abandon_on_cancel=True)
    except TimeoutError:
        raise Refused(422, f"the transcript did not parse within {timeout_s:g} s; send a shorter one") from None


class _ClientLeft(Exception):
    """Raised in the worker at its next progress report once the client has gone."""


async def _while_connected(request: Request, work) -> Timeline | None:
    """``work(progress)`` in a worker thread, stopped at its next progress report when the client
    disconnects (None then): a client that left used to keep the builder busy for its whole work."""
    gone = threading.Event()

    def progress(phase: str, done: float, total: float) -> None:
        if gone.is_set():
            raise _ClientLeft

    async def watch() -> None:
        # The body has been read: what the connection says next is that the client went away.
        while (await request.receive())["type"] != "http.disconnect":
            await anyio.sleep(0.2)
        gone.set()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            return await anyio.to_thread.run_sync(work, progress)
        except _ClientLeft:
            return None
        finally:
            group.cancel_scope.cancel()


def _streamed(work, done: Callable[[], None]):
    """Start ``work`` and return its answer as lines of JSON: the progress it reports as it goes,
    then its timeline, or the error that stopped it (the status line is sent already: it goes in
    the body).  The work runs in a thread of its own, started here rather than when the answer is
    first read, so that ``done`` (which frees the builder and the upload) is called when the work
    ends even if the client has gone before a byte of the answer was sent."""
    send, receive = anyio.create_memory_object_stream(max_buffer_size=math.inf)
    loop = anyio.lowlevel.current_token()

    def report(phase: str, done: float, total: float) -> None:
        # A client that has left makes this fail in the worker: the work stops at its next report.
        anyio.from_thread.run_sync(
            send.send_nowait, {"phase": phase, "done": round(done, 1), "total": round(total, 1)}, token=loop
        )

    def finish(last: dict) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            send.send_nowait(last)
        send.close()
        done()

    def run() -> None:
        try:
            last = {"timeline": work(report).model_dump(mode="json")}
        except PredictionError as error:
            last = {"error": str(error), "error_kind": str(error.kind), "status": status_for(error.kind)}
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            last = {}
        except Exception as error:  # noqa: BLE001 - the stream must end with a line that says why
            last = {"error": f"{type(error).__name__}: {error}", "error_kind": "internal_error", "status": 500}
        anyio.from_thread.run_sync(finish, last, token=loop)

    threading.Thread(target=run, name="vamer-timeline", daemon=True).start()

    async def lines():
        async with receive:
            async for item in receive:
                yield json.dumps(item, ensure_ascii=False) + "\n"

    return lines()


def _swagger_assets() -> str:
    """The folder of Swagger UI's files (the ``fastapi-swagger`` wheel's ``resources``), found
    without importing that package, which would patch FastAPI."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("fastapi_swagger")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-swagger is not installed: pip install fastapi-swagger==0.4.64")
    return str(Path(next(iter(spec.submodule_search_locations))) / "resources")


MAX_ENROL_CLIPS = 64


def _text_field(fields: dict[str, tuple[str | None, bytes]], name: str) -> str | None:
    """A form's text field, UTF-8, or None when absent or empty."""
    if name not in fields:
        return None
    try:
        return fields[name][1].decode("utf-8").strip() or None
    except UnicodeDecodeError:
        raise Refused(422, f"field {name!r} is not UTF-8") from None


def _count_field(fields: dict[str, tuple[str | None, bytes]], name: str) -> int | None:
    """A form's whole-number field from 1 to 20, or None when absent."""
    value = _text_field(fields, name)
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 20:
        raise Refused(422, f"field {name!r} must be a whole number from 1 to 20, not {value[:20]!r}")
    return int(value)


def _audio_and_text(fields: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str | None]:
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


_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["audio"],
                    "properties": {
                        "audio": {"type": "string", "format": "binary", "description": "a wav file"},
                        "text": {"type": "string", "description": "the transcript (optional)"},
                        "speaker": {
                            "type": "string",
                            "description": "an enrolled speaker profile's id (optional): the "
                            "clip is normalised by that speaker's statistics",
                        },
                    },
                }
            }
        },
    }
}

_ENROL_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["audio"],
                    "properties": {
                        "audio": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": f"clips of the speaker (the field repeated, up to {MAX_ENROL_CLIPS})",
                        }
                    },
                }
            }
        },
    }
}

_TIMELINE_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["audio"],
                    "properties": {
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
                    },
                }
            }
        },
    }
}

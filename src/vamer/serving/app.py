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
parts, 408 for a body that does not arrive in time or arrives slower than ``min_body_rate_bps``
(after ``rate_grace_s``) or in a flood of tiny pieces, 401 for a missing or wrong API key (when the
service has one), 400 for a Host header the service does not answer to, and 503 when every upload
slot is taken.  The model loads once; the form is parsed and predictions run in worker threads (at
most ``concurrency`` predictions at a time) so the event loop keeps answering.  Every response
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
import time
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import anyio
import anyio.lowlevel
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

import vamer
from vamer.inference.predictor import PredictionError, Predictor
from vamer.inference.profiles import ProfileStore, check_speaker_id, owner_of
from vamer.inference.result import ErrorAnswer, PredictionResult
from vamer.reasons import Reason
from vamer.timeline.build import build_timeline, open_recording
from vamer.timeline.recording import TimelineLimits
from vamer.timeline.result import Timeline
from vamer.timeline.transcript import check_cues_fit, decode_cues

def status_for(kind: str) -> int:
    """The HTTP status of a prediction that failed for ``kind`` (the table in :mod:`vamer.reasons`)."""
    return Reason(kind).http_status


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 20 * 1024 * 1024
    concurrency: int = 2          # predictions running at once (each uses torch's intra-op threads)
    max_uploads: int = 16         # uploads received or predicted at once (bounds the buffered bodies)
    queue_timeout_s: float = 30.0  # how long a request waits for an upload slot before its 503
    body_timeout_s: float = 30.0  # a body must arrive whole within this; else 408
    header_timeout_s: float = 10.0  # a request's head must arrive within this; else the connection closes
    max_connections: int = 256    # open connections; uvicorn answers 503 past this
    max_form_parts: int = 8       # a form has 2 fields; 400,000 tiny parts once kept the server busy 8.5 s
    min_body_rate_bps: int = 8 * 1024   # after rate_grace_s, a body slower than this on average gets 408
    rate_grace_s: float = 2.0
    min_mean_chunk_bytes: int = 64      # past 1,024 pieces, a body whose pieces average less gets 408
    max_timeline_upload_bytes: int = 256 * 1024 * 1024   # an hour of 16 kHz 16-bit stereo is 230 MB
    max_timeline_seconds: float = 3600.0
    timelines: int = 1            # timelines built at once (each holds its recording in memory)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def inline_hashes(html: str, tag: str) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of every inline ``<tag>`` element of ``html``: what
    lets the page's own script and style run while any other inline code is refused.

    >>> inline_hashes("<script>f()</script>", "script")
    ["'sha256-..."]
    """
    bodies = re.findall(rf"<{tag}(?![^>]*\bsrc=)[^>]*>(.*?)</{tag}>", html, flags=re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode('utf-8')).digest()).decode()}'"
            for body in bodies]


def content_policy(html: str) -> str:
    """The Content-Security-Policy of an HTML page of the service: its own origin and inline code only."""
    scripts, styles = " ".join(inline_hashes(html, "script")), " ".join(inline_hashes(html, "style"))
    return (f"default-src 'self'; script-src 'self' {scripts}; style-src 'self' {styles}; "
            "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def create_app(predictor: Predictor, limits: ServiceLimits | None = None, api_key: str | list[str] | None = None,
               allowed_hosts: list[str] | None = None, profiles: ProfileStore | None = None) -> FastAPI:
    """The service.  ``api_key`` (one, or a list: one per client): when given, ``POST /predict``,
    ``/timeline`` and ``/speakers`` need one of them (``Authorization: Bearer KEY`` or ``X-API-Key:
    KEY``); the page, /health and /docs stay open.
    ``allowed_hosts``: the Host header values answered (DNS rebinding: a web page elsewhere reaching
    a loopback service through a name of its own); ``None`` answers any.  ``profiles``: where
    enrolled speakers live (None: profiles are refused); each API key sees only its own."""
    limits = limits or ServiceLimits()
    gate = anyio.CapacityLimiter(limits.concurrency)
    uploads = anyio.CapacityLimiter(limits.max_uploads)
    timelines = anyio.Semaphore(limits.timelines)   # released by whichever task ends the work
    upload_limit = {"/predict": limits.max_upload_bytes, "/timeline": limits.max_timeline_upload_bytes}
    app = FastAPI(title="vamer", version=vamer.__version__, docs_url=None, redoc_url=None,
                  description="Speech + text emotion recognition (Korean). Model: "
                              f"{predictor.bundle.preset.name} preset, classes {', '.join(predictor.classes)}.")
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
        response.headers.setdefault("Content-Security-Policy", policies.get(path, API_POLICY if not
                                    path.startswith("/docs-assets") else "default-src 'none'"))
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
                return JSONResponse({"detail": "this service needs an API key: send 'Authorization: Bearer KEY' "
                                               "or 'X-API-Key: KEY'" if not given else "wrong API key"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title="vamer API",
                                   swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
                                   swagger_favicon_url=f"{root}/docs-assets/favicon-32x32.png")
        policies["/docs"] = content_policy(html.body.decode("utf-8"))
        return html

    @app.exception_handler(_Refused)
    async def refused(request: Request, error: _Refused) -> JSONResponse:
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=headers)

    @app.middleware("http")
    async def upload_size(request: Request, call_next):
        # Refuse from the header before a byte of the body is parsed; bodies sent without a length
        # are measured again after reading (see _read_form).
        path = request.url.path
        length = request.headers.get("content-length")
        most = upload_limit.get(path, limits.max_upload_bytes if path.startswith("/speakers/") else None)
        if most is not None and length and length.isdigit() and int(length) > most:
            return JSONResponse({"detail": _too_large(int(length), most)}, status_code=413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "vamer_version": vamer.__version__, "classes": predictor.classes,
                "auth": "api_key" if key is not None else "none",
                "engine": predictor.engine.name, "device": str(getattr(predictor.engine, "device", "cpu")),
                "preset": predictor.bundle.preset.name,
                "regressors": predictor.bundle.regressors,
                "limits": {**asdict(limits), **asdict(predictor.limits)}}

    async def upload_slot() -> None:
        """Wait for an upload slot (503 after ``queue_timeout_s``); the caller releases it."""
        with anyio.move_on_after(limits.queue_timeout_s) as waiting:
            await uploads.acquire()
        if waiting.cancelled_caught:
            raise _Refused(503, f"all {limits.max_uploads} upload slots stayed busy for "
                                f"{limits.queue_timeout_s:g} s; retry shortly")

    @app.post("/predict", openapi_extra=_FORM_SCHEMA, response_model=PredictionResult,
              responses={status: {"model": ErrorAnswer} for status in (400, 401, 408, 413, 415, 422, 500, 503)})
    async def predict(request: Request) -> dict[str, Any]:
        """Predict the emotion of one recording: form field ``audio`` (wav file), optional ``text``."""
        # A request waits for a slot before its body is read (unread bodies stay in the socket,
        # paused by uvicorn's flow control), so a burst queues instead of failing.
        await upload_slot()
        # The slot is held until the answer: a body read into memory waits for a prediction thread
        # inside it, so at most max_uploads bodies are ever buffered.
        try:
            fields = await _read_form(request, limits, limits.max_upload_bytes)
            audio, text = _audio_and_text(fields)
            speaker = _text_field(fields, "speaker")
            statistics = None
            if speaker is not None:
                statistics = await anyio.to_thread.run_sync(_profile, speaker, _owner(request))
            return await anyio.to_thread.run_sync(lambda: predictor.predict(audio, text, speaker=speaker,
                                                                            statistics=statistics), limiter=gate)
        except PredictionError as error:
            raise _Refused(status_for(error.kind), str(error)) from None
        finally:
            uploads.release()

    @app.post("/timeline", openapi_extra=_TIMELINE_FORM, response_model=Timeline,
              responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}},
                               "description": "With 'Accept: application/x-ndjson': one JSON line per step of "
                                              "progress ({phase, done, total}), then {timeline} or {error, "
                                              "error_kind, status}."},
                         **{status: {"model": ErrorAnswer} for status in (400, 401, 408, 413, 415, 422, 500, 503)}})
    async def timeline(request: Request) -> Any:
        """The timeline of one long recording: its speech segments, each with the emotion the model
        gives it, and the silences between them.  Form field ``audio``, optional ``transcript`` (a
        time-aligned .srt or .vtt file, UTF-8) whose words go to the segments they fall in.  Sent
        with ``Accept: application/x-ndjson``, the answer streams the progress first."""
        with anyio.move_on_after(limits.queue_timeout_s) as waiting:
            await timelines.acquire()
        if waiting.cancelled_caught:
            raise _Refused(503, f"{limits.timelines} timeline(s) are being built and stayed busy for "
                                f"{limits.queue_timeout_s:g} s; retry shortly")
        handed_over = False
        try:
            fields = await _read_form(request, limits, limits.max_timeline_upload_bytes)
            if "audio" not in fields:
                raise _Refused(422, "missing file field 'audio' (a recording)")
            name, audio = fields["audio"]
            transcript, raw_cues = fields.get("transcript", (None, b""))
            cues = decode_cues(raw_cues, transcript or "") if raw_cues else None
            # The recording and the transcript are checked before any answer starts: their refusals
            # are a 4xx whether the answer streams or not.
            recording = await anyio.to_thread.run_sync(
                open_recording, predictor, audio, TimelineLimits(max_seconds=limits.max_timeline_seconds))
            if cues:
                check_cues_fit(cues, recording.seconds)

            speakers = _count_field(fields, "speakers")

            def work(progress=lambda phase, done, total: None) -> Timeline:
                return build_timeline(predictor, recording, cues, source=name or "upload", transcript=transcript,
                                      progress=progress, speakers=speakers)

            if NDJSON in request.headers.get("accept", ""):
                handed_over = True   # the stream releases the slot when the work is done
                return StreamingResponse(_streamed(work, timelines), media_type=NDJSON)
            result = await anyio.to_thread.run_sync(work)
            return result.model_dump(mode="json")
        except PredictionError as error:
            raise _Refused(status_for(error.kind), str(error)) from None
        finally:
            if not handed_over:
                timelines.release()

    def _owner(request: Request) -> str:
        given = request.headers.get("x-api-key") or ""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return owner_of((token.strip() if scheme.lower() == "bearer" else given) if key is not None else None)

    def _store() -> ProfileStore:
        if profiles is None or predictor.bundle.population is None:
            raise _Refused(404, "this service keeps no speaker profiles (its bundle does not normalise per speaker, "
                                "or it was started without a profiles file)")
        return profiles

    def _profile(speaker: str, owner: str):
        return predictor.profile(_store(), speaker, owner)

    @app.put("/speakers/{speaker}", openapi_extra=_ENROL_FORM,
             responses={status: {"model": ErrorAnswer} for status in (400, 401, 404, 408, 413, 415, 422, 503)})
    async def enrol(speaker: str, request: Request) -> dict[str, Any]:
        """Enrol (or replace) the caller's profile ``speaker`` from a few clips of that speaker: the
        form field ``audio`` once per clip.  Labels are never asked for; the clips are not kept."""
        await upload_slot()
        try:
            check_speaker_id(speaker)
            store = _store()
            clips = [data for name, _, data in await _read_parts(request, limits) if name == "audio"]
            if not clips:
                raise _Refused(422, "send the speaker's clips as file fields named 'audio' (one per clip)")
            statistics, failed = await anyio.to_thread.run_sync(predictor.enrol, clips, limiter=gate)
            owner = _owner(request)
            await anyio.to_thread.run_sync(store.save, owner, speaker, statistics)
            return {"speaker": speaker, "clips": statistics.clips, "not_used": failed}
        except PredictionError as error:
            raise _Refused(status_for(error.kind), str(error)) from None
        finally:
            uploads.release()

    @app.get("/speakers", responses={status: {"model": ErrorAnswer} for status in (401, 404)})
    async def speakers(request: Request) -> list[dict[str, Any]]:
        """The caller's profiles: id, clips, when enrolled, whether this model can use it."""
        return await anyio.to_thread.run_sync(_store().list, _owner(request))

    @app.delete("/speakers/{speaker}", responses={status: {"model": ErrorAnswer} for status in (401, 404, 422)})
    async def forget(speaker: str, request: Request) -> dict[str, Any]:
        """Delete the caller's profile ``speaker``."""
        try:
            check_speaker_id(speaker)
        except PredictionError as error:
            raise _Refused(status_for(error.kind), str(error)) from None
        if not await anyio.to_thread.run_sync(_store().delete, _owner(request), speaker):
            raise _Refused(404, f"no speaker profile {speaker!r}")
        return {"deleted": speaker}

    return app


NDJSON = "application/x-ndjson"


def _streamed(work, slot: anyio.Semaphore):
    """Start ``work`` and return its answer as lines of JSON: the progress it reports as it goes,
    then its timeline, or the error that stopped it (the status line is sent already: it goes in
    the body).  The work runs in a thread of its own, started here rather than when the answer is
    first read, so that the timeline slot is released when the work ends even if the client has
    gone before a byte of the answer was sent."""
    send, receive = anyio.create_memory_object_stream(max_buffer_size=math.inf)
    loop = anyio.lowlevel.current_token()

    def report(phase: str, done: float, total: float) -> None:
        # A client that has left makes this fail in the worker: the work stops at its next report.
        anyio.from_thread.run_sync(send.send_nowait, {"phase": phase, "done": round(done, 1),
                                                      "total": round(total, 1)}, token=loop)

    def finish(last: dict) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            send.send_nowait(last)
        send.close()
        slot.release()

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


def _too_large(size: int, most: int) -> str:
    return f"upload of {size:,} bytes is over the limit of {most:,} bytes"


@dataclass
class _Part:
    headers: dict[bytes, bytes]
    data: bytearray


def _swagger_assets() -> str:
    """The folder of Swagger UI's files (the ``fastapi-swagger`` wheel's ``resources``), found
    without importing that package, which would patch FastAPI."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("fastapi_swagger")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-swagger is not installed: pip install fastapi-swagger==0.4.64")
    return str(Path(next(iter(spec.submodule_search_locations))) / "resources")


def _form_parts(body: bytes, content_type: str, max_parts: int = 8) -> dict[str, tuple[str | None, bytes]]:
    """Field name -> (file name or None, raw bytes) of a multipart body (a repeated field: its last
    part), by python-multipart; a body of more than ``max_parts`` parts is refused as soon as the
    parser reaches one more."""
    return {name: (filename, data) for name, filename, data in _form_list(body, content_type, max_parts)}


def _form_list(body: bytes, content_type: str, max_parts: int = 8) -> list[tuple[str, str | None, bytes]]:
    """Every part of a multipart body in order: (field name, file name or None, raw bytes).

    The raw bytes are kept so the service can tell text that is not UTF-8 from text that is
    (starlette's form parser falls back to latin-1 silently).
    """
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise _Refused(422, "send a multipart/form-data form with a file field 'audio' and an optional field 'text'")
    parts: list[_Part] = []
    header: list[bytes] = [b"", b""]

    def begin() -> None:
        if len(parts) >= max_parts:
            raise _Refused(400, f"the multipart form has more than {max_parts} parts; send the fields 'audio' "
                                "and 'text' once each")
        parts.append(_Part({}, bytearray()))

    def field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def header_end() -> None:
        parts[-1].headers[header[0].lower()] = header[1]
        header[0] = header[1] = b""

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1].data += chunk[start:end]

    ended: list[bool] = []
    callbacks = {"on_part_begin": begin, "on_header_field": field, "on_header_value": value,
                 "on_header_end": header_end, "on_part_data": data, "on_end": lambda: ended.append(True)}
    try:  # the constructor refuses some boundaries (over 256 bytes) too
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except FormParserError as error:
        raise _Refused(400, f"malformed multipart form ({error})") from None
    if not ended:  # a body cut off before "--boundary--": its last part may be partial
        raise _Refused(400, "the multipart form ends before its closing boundary (was the upload cut off?)")
    fields: list[tuple[str, str | None, bytes]] = []
    for part in parts:
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        fields.append((name, filename.decode("utf-8", "replace") if filename is not None else None, bytes(part.data)))
    return fields


async def _read_form(request: Request, limits: ServiceLimits,
                     most: int) -> dict[str, tuple[str | None, bytes]]:
    """The request's form as :func:`_form_parts` reads it (:func:`_read_body` says how it is read)."""
    return await anyio.to_thread.run_sync(_form_parts, await _read_body(request, limits, most),
                                          request.headers.get("content-type", ""), limits.max_form_parts)


async def _read_parts(request: Request, limits: ServiceLimits) -> list[tuple[str, str | None, bytes]]:
    """An enrolment's form: every part, up to MAX_ENROL_CLIPS clips."""
    return await anyio.to_thread.run_sync(_form_list, await _read_body(request, limits, limits.max_upload_bytes),
                                          request.headers.get("content-type", ""), MAX_ENROL_CLIPS)


async def _read_body(request: Request, limits: ServiceLimits, most: int) -> bytes:
    """The fields of the request's multipart form (name -> (file name, bytes)), at most ``most`` bytes.

    The body must arrive within ``body_timeout_s``, at ``min_body_rate_bps`` on average once
    ``rate_grace_s`` have passed (16 clients trickling a byte a second held every upload slot for
    30 s), and not as a flood of tiny pieces (each one costs the event loop a wake-up: a 1 MB body
    sent byte by byte kept /health waiting 2.4 s).  Each wait for the next piece has the deadline
    that keeps those promises, so a client that goes silent is dropped on time too.  The form is
    then parsed in a worker thread."""
    body = bytearray()
    pieces = 0
    started = time.monotonic()
    stream = request.stream().__aiter__()
    while True:
        elapsed = time.monotonic() - started
        due = min(limits.body_timeout_s, max(limits.rate_grace_s, (len(body) + 1) / limits.min_body_rate_bps))
        try:
            with anyio.fail_after(max(due - elapsed, 0.001)):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            break
        except TimeoutError:
            if due >= limits.body_timeout_s:
                raise _Refused(408, f"the request body did not arrive within {limits.body_timeout_s:g} s") from None
            raise _Refused(408, f"the request body arrives slower than {limits.min_body_rate_bps:,} bytes/s "
                                f"({len(body):,} bytes in {elapsed:.1f} s)") from None
        body += chunk
        pieces += 1
        if len(body) > most:  # a body sent without Content-Length
            raise _Refused(413, _too_large(len(body), most))
        if pieces > 1024 and len(body) < pieces * limits.min_mean_chunk_bytes:
            raise _Refused(408, f"the request body arrives in {pieces:,} pieces of {len(body) / pieces:.0f} bytes on "
                                "average; send it in larger pieces")
    return bytes(body)


MAX_ENROL_CLIPS = 64


def _text_field(fields: dict[str, tuple[str | None, bytes]], name: str) -> str | None:
    """A form's text field, UTF-8, or None when absent or empty."""
    if name not in fields:
        return None
    try:
        return fields[name][1].decode("utf-8").strip() or None
    except UnicodeDecodeError:
        raise _Refused(422, f"field {name!r} is not UTF-8") from None


def _count_field(fields: dict[str, tuple[str | None, bytes]], name: str) -> int | None:
    """A form's whole-number field from 1 to 20, or None when absent."""
    value = _text_field(fields, name)
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 20:
        raise _Refused(422, f"field {name!r} must be a whole number from 1 to 20, not {value[:20]!r}")
    return int(value)


def _audio_and_text(fields: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str | None]:
    """``/predict``'s form: the ``audio`` file and the ``text`` field, checked."""
    if "audio" not in fields:
        raise _Refused(422, "missing file field 'audio' (a wav file)")
    text = None
    if "text" in fields:
        try:
            text = fields["text"][1].decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(422, "field 'text' is not UTF-8; send the transcript as UTF-8") from None
    return fields["audio"][1], text or None


_FORM_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["audio"],
    "properties": {"audio": {"type": "string", "format": "binary", "description": "a wav file"},
                   "text": {"type": "string", "description": "the transcript (optional)"},
                   "speaker": {"type": "string", "description": "an enrolled speaker profile's id (optional): the "
                                                                "clip is normalised by that speaker's statistics"}}}}}}}

_ENROL_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["audio"],
    "properties": {"audio": {"type": "array", "items": {"type": "string", "format": "binary"},
                             "description": f"clips of the speaker (the field repeated, up to {MAX_ENROL_CLIPS})"}}}}}}}

_TIMELINE_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["audio"],
    "properties": {"audio": {"type": "string", "format": "binary", "description": "a recording (wav, flac, ogg)"},
                   "transcript": {"type": "string", "format": "binary",
                                  "description": "a time-aligned transcript, .srt or .vtt (optional)"},
                   "speakers": {"type": "integer", "description": "how many voices the recording holds (optional; "
                                                                  "default: estimated)"}}}}}}}

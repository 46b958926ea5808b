"""The REST service: FastAPI over one :class:`~vamer.inference.predictor.Predictor`.

    GET  /          the web page (choose or record a wav, type the transcript, see the result)
    GET  /health    status, vamer version, classes, engine, limits
    POST /predict   multipart form: ``audio`` (a wav file), optional ``text`` -> the JSON of predict
    GET  /docs      OpenAPI documentation (schema at /openapi.json)

Bad requests get a 4xx with ``{"detail": message}``, never a 500: 413 for an upload over the size
limit or audio that would decode past the sample budget, 415 for content that is not readable
audio, 422 for missing fields, a too long recording, a too low sample rate, NaN or infinite
samples, too much text or text that is not UTF-8, 400 for an empty file or a form the multipart
parser rejects or that ends before its closing boundary, 408 for a body that does not arrive in
time, and 503 when every upload slot is taken.  The model loads once; predictions run in worker
threads (at most ``concurrency`` at a time) so the event loop keeps answering.  How the server
itself guards its connections is in :mod:`vamer.serving.server`.

>>> from vamer.serving.app import status_for
>>> status_for("unreadable_wav"), status_for("too_long")
(415, 422)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

import vamer
from vamer.inference.predictor import PredictionError, Predictor
from vamer.reasons import Reason

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


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def create_app(predictor: Predictor, limits: ServiceLimits | None = None) -> FastAPI:
    limits = limits or ServiceLimits()
    gate = anyio.CapacityLimiter(limits.concurrency)
    uploads = anyio.CapacityLimiter(limits.max_uploads)
    app = FastAPI(title="vamer", version=vamer.__version__,
                  description="Speech + text emotion recognition (Korean). Model: "
                              f"{predictor.bundle.preset.name} preset, classes {', '.join(predictor.classes)}.")
    page = resources.files("vamer.serving").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.exception_handler(_Refused)
    async def refused(request: Request, error: _Refused) -> JSONResponse:
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=headers)

    @app.middleware("http")
    async def upload_size(request: Request, call_next):
        # Refuse from the header before a byte of the body is parsed; bodies sent without a length
        # are measured again after reading (see _read_form).
        length = request.headers.get("content-length")
        if request.url.path == "/predict" and length and length.isdigit() and int(length) > limits.max_upload_bytes:
            return JSONResponse({"detail": _too_large(int(length), limits)}, status_code=413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "vamer_version": vamer.__version__, "classes": predictor.classes,
                "engine": predictor.engine.name, "device": str(getattr(predictor.engine, "device", "cpu")),
                "preset": predictor.bundle.preset.name,
                "regressors": predictor.bundle.regressors,
                "limits": {**asdict(limits), **asdict(predictor.limits)}}

    @app.post("/predict", openapi_extra=_FORM_SCHEMA)
    async def predict(request: Request) -> dict[str, Any]:
        """Predict the emotion of one recording: form field ``audio`` (wav file), optional ``text``."""
        # A request waits for a slot before its body is read (unread bodies stay in the socket,
        # paused by uvicorn's flow control), so a burst queues instead of failing.
        with anyio.move_on_after(limits.queue_timeout_s) as waiting:
            await uploads.acquire()
        if waiting.cancelled_caught:
            raise _Refused(503, f"all {limits.max_uploads} upload slots stayed busy for "
                                f"{limits.queue_timeout_s:g} s; retry shortly")
        # The slot is held until the answer: a body read into memory waits for a prediction thread
        # inside it, so at most max_uploads bodies are ever buffered.
        try:
            audio, text = await _read_form(request, limits)
            return await anyio.to_thread.run_sync(predictor.predict, audio, text, limiter=gate)
        except PredictionError as error:
            raise _Refused(status_for(error.kind), str(error)) from None
        finally:
            uploads.release()

    return app


def _too_large(size: int, limits: ServiceLimits) -> str:
    return f"upload of {size:,} bytes is over the limit of {limits.max_upload_bytes:,} bytes"


@dataclass
class _Part:
    headers: dict[bytes, bytes]
    data: bytearray


def _form_parts(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Field name -> (file name or None, raw bytes) of a multipart body, by python-multipart.

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
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in parts:
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        fields[name] = (filename.decode("utf-8", "replace") if filename is not None else None, bytes(part.data))
    return fields


async def _read_form(request: Request, limits: ServiceLimits) -> tuple[bytes, str | None]:
    """The ``audio`` file and ``text`` field of the request's multipart form, checked."""
    body = bytearray()
    try:
        with anyio.fail_after(limits.body_timeout_s):  # a client trickling its body holds a slot
            async for chunk in request.stream():
                body += chunk
                if len(body) > limits.max_upload_bytes:  # a body sent without Content-Length
                    raise _Refused(413, _too_large(len(body), limits))
    except TimeoutError:
        raise _Refused(408, f"the request body did not arrive within {limits.body_timeout_s:g} s") from None
    fields = _form_parts(bytes(body), request.headers.get("content-type", ""))
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
                   "text": {"type": "string", "description": "the transcript (optional)"}}}}}}}

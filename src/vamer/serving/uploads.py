"""How the service receives an upload: a multipart form read from the socket as it arrives, parsed
as it arrives, and held in memory once, within a budget shared by every request.

Nothing here needs FastAPI: :func:`read_form` takes the body as an async iterator of byte chunks.

- **One copy.** Each chunk is parsed when it arrives (python-multipart) and its part's bytes go
  straight into that part's buffer; the body as a whole is never kept, so an upload costs its own
  size once (it used to be copied about 4 times).
- **A shared byte budget** (:class:`UploadBudget`) bounds what every upload in progress or waiting
  for its answer holds together.  A slow client holds only what it has sent, so slow clients are
  cheap; past the budget a request waits ``queue_timeout_s`` for room, then gets 503.
- **A rate floor that rises as uploads crowd in.**  A body must average ``min_body_rate_bps`` after
  ``rate_grace_s``; with more than ``max_uploads`` bodies arriving at once, the floor rises in
  proportion (60 clients trickling 10 KB/s against 16: each must send 30 KB/s), so trickling
  clients are cut off within seconds instead of holding connections for the whole deadline.
- **Deadlines.**  The body must arrive whole within ``body_timeout_s``, and not as a flood of tiny
  pieces (each costs the event loop a wake-up).
- **Per-field caps.**  A field over its cap (a transcript of 18 MB) is refused as soon as it
  passes the cap; the rest of the body is read and dropped, so the client still gets the answer.

>>> import anyio
>>> body = b'--b\\r\\nContent-Disposition: form-data; name="text"\\r\\n\\r\\nhi\\r\\n--b--\\r\\n'
>>> async def one():
...     yield body
>>> form = anyio.run(read_form, one(), "multipart/form-data; boundary=b", UploadRules(most=1000), UploadBudget())
>>> form.fields["text"]
(None, b'hi')
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

import anyio
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header


class Refused(Exception):
    """A request the service answers with ``status`` and ``detail`` (a 4xx or a 503)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def too_large(size: int, most: int) -> str:
    return f"upload of {size:,} bytes is over the limit of {most:,} bytes"


@dataclass(frozen=True)
class UploadRules:
    """What one upload must keep to."""

    most: int  # bytes of body
    max_parts: int = 8
    field_caps: dict[str, int] = field(default_factory=dict)  # field name -> most bytes of its part
    body_timeout_s: float = 30.0
    min_body_rate_bps: int = 8 * 1024
    rate_grace_s: float = 2.0
    min_mean_chunk_bytes: int = 64
    queue_timeout_s: float = 30.0  # how long a chunk waits for room in the budget


class UploadBudget:
    """Bytes that uploads hold in memory, shared by the requests of one service, and how many
    bodies are arriving right now (what the rate floor rises with).

    >>> budget = UploadBudget(held_most=100, uploads_at_floor=2)
    >>> budget.floor_bps(1000), budget.arriving
    (1000.0, 0)
    """

    def __init__(self, held_most: int = 512 * 1024 * 1024, uploads_at_floor: int = 16) -> None:
        self.held_most, self.uploads_at_floor = held_most, uploads_at_floor
        self.held = 0
        self.arriving = 0
        self._freed: anyio.Event | None = None  # made inside the event loop, on first wait

    def floor_bps(self, base_bps: float) -> float:
        """The rate every arriving body must keep: the base, raised in proportion past
        ``uploads_at_floor`` bodies arriving at once."""
        return base_bps * max(1.0, self.arriving / self.uploads_at_floor)

    async def take(self, size: int, wait_s: float) -> None:
        """Room for ``size`` more bytes, waiting up to ``wait_s`` for others to give theirs back."""
        deadline = time.monotonic() + wait_s
        while self.held + size > self.held_most and self.held > 0:
            if self._freed is None:
                self._freed = anyio.Event()
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                await self._freed.wait()
            if time.monotonic() >= deadline and self.held + size > self.held_most:
                raise Refused(
                    503, f"the service holds {self.held / 2**20:,.0f} MB of uploads, its limit; retry shortly"
                )
        self.held += size

    def give_back(self, size: int) -> None:
        self.held -= size
        if self._freed is not None:
            self._freed.set()
            self._freed = None


class Form:
    """A parsed multipart form: its parts in order, and the budget bytes it holds until
    :meth:`release` (called once the request's answer no longer needs the bytes)."""

    def __init__(self, parts: list[tuple[str, str | None, bytes]], budget: UploadBudget, held: int) -> None:
        self.parts, self._budget, self._held = parts, budget, held

    @property
    def fields(self) -> dict[str, tuple[str | None, bytes]]:
        """Field name -> (file name or None, bytes); a repeated field: its last part."""
        return {name: (filename, data) for name, filename, data in self.parts}

    def release(self) -> None:
        held, self._held = self._held, 0
        if held:
            self._budget.give_back(held)


class FormParser:
    """A multipart body parsed chunk by chunk (python-multipart); each part's bytes are copied once,
    into its own buffer.  The raw bytes are kept so the service can tell text that is not UTF-8
    from text that is (starlette's form parser falls back to latin-1 silently)."""

    def __init__(self, content_type: str, rules: UploadRules) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise Refused(422, "send a multipart/form-data form with a file field 'audio' and an optional field 'text'")
        self.rules = rules
        self._parts: list[tuple[dict[bytes, bytes], io.BytesIO]] = []
        self._header = [b"", b""]
        self._ended = False
        callbacks = {
            "on_part_begin": self._begin,
            "on_header_field": self._field,
            "on_header_value": self._value,
            "on_header_end": self._header_end,
            "on_part_data": self._data,
            "on_end": self._end,
        }
        try:  # the constructor refuses some boundaries (over 256 bytes) too
            self._parser = MultipartParser(boundary, callbacks)
        except FormParserError as error:
            raise Refused(400, f"malformed multipart form ({error})") from None
        self._cap: int | None = None

    def _begin(self) -> None:
        if len(self._parts) >= self.rules.max_parts:
            raise Refused(400, f"the multipart form has more than {self.rules.max_parts} parts; send each field once")
        self._parts.append(({}, io.BytesIO()))

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def _header_end(self) -> None:
        headers = self._parts[-1][0]
        headers[self._header[0].lower()] = self._header[1]
        self._header = [b"", b""]
        if headers.keys() >= {b"content-disposition"}:
            self._cap = self.rules.field_caps.get(_name_and_file(headers)[0])

    def _data(self, data: bytes, start: int, end: int) -> None:
        buffer = self._parts[-1][1]
        buffer.write(memoryview(data)[start:end])
        if self._cap is not None and buffer.tell() > self._cap:
            name = _name_and_file(self._parts[-1][0])[0]
            raise Refused(413, f"field {name!r} is over its limit of {self._cap:,} bytes")

    def _end(self) -> None:
        self._ended = True

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as error:
            raise Refused(400, f"malformed multipart form ({error})") from None

    def parts(self) -> list[tuple[str, str | None, bytes]]:
        """Every part in order: (field name, file name or None, bytes)."""
        try:
            self._parser.finalize()
        except FormParserError as error:
            raise Refused(400, f"malformed multipart form ({error})") from None
        if not self._ended:  # a body cut off before "--boundary--": its last part may be partial
            raise Refused(400, "the multipart form ends before its closing boundary (was the upload cut off?)")
        # getvalue() hands over the buffer itself (no copy) when nothing else refers to it.
        return [(*_name_and_file(headers), buffer.getvalue()) for headers, buffer in self._parts]


def _name_and_file(headers: dict[bytes, bytes]) -> tuple[str, str | None]:
    _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
    filename = disposition.get(b"filename")
    return (
        disposition.get(b"name", b"").decode("utf-8", "replace"),
        filename.decode("utf-8", "replace") if filename is not None else None,
    )


async def read_form(chunks: AsyncIterator[bytes], content_type: str, rules: UploadRules, budget: UploadBudget) -> Form:
    """The form whose body ``chunks`` brings, within ``rules``; its bytes are held in ``budget``
    until :meth:`Form.release`.  Each wait for the next chunk has the deadline that keeps the rate
    floor and ``body_timeout_s``, so a client that goes silent is dropped on time too.  A refusal
    is a :class:`Refused`; one found mid-body (a field over its cap, too many parts) is raised once
    the rest of the body has been read and dropped."""
    parser = FormParser(content_type, rules)
    received = held = pieces = 0
    refusal: Refused | None = None
    started = time.monotonic()
    stream = chunks.__aiter__()
    budget.arriving += 1
    try:
        while True:
            elapsed = time.monotonic() - started
            floor = budget.floor_bps(rules.min_body_rate_bps)
            due = min(rules.body_timeout_s, max(rules.rate_grace_s, (received + 1) / floor))
            try:
                with anyio.fail_after(max(due - elapsed, 0.001)):
                    chunk = await stream.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError:
                if due >= rules.body_timeout_s:
                    raise Refused(408, f"the request body did not arrive within {rules.body_timeout_s:g} s") from None
                raise Refused(
                    408,
                    f"the request body arrives slower than {floor:,.0f} bytes/s "
                    f"({received:,} bytes in {time.monotonic() - started:.1f} s)",
                ) from None
            received += len(chunk)
            pieces += 1
            if received > rules.most:  # a body sent without Content-Length, or longer than it said
                raise Refused(413, too_large(received, rules.most))
            if pieces > 1024 and received < pieces * rules.min_mean_chunk_bytes:
                raise Refused(
                    408,
                    f"the request body arrives in {pieces:,} pieces of {received / pieces:.0f} bytes "
                    "on average; send it in larger pieces",
                )
            if refusal is None:
                try:
                    await budget.take(len(chunk), rules.queue_timeout_s)
                    held += len(chunk)
                    parser.feed(chunk)
                except Refused as error:
                    refusal = error
                    parser = None  # type: ignore[assignment]  # its parts are dropped now
                    budget.give_back(held)
                    held = 0
        if refusal is not None:
            raise refusal
        return Form(parser.parts(), budget, held)
    except BaseException:
        if held:
            budget.give_back(held)
        raise
    finally:
        budget.arriving -= 1

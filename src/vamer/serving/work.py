"""The service's long work (a timeline) in worker threads, tied to its client: stopped when the
client leaves, or streamed as lines of JSON progress; and a transcript parsed off the event loop
within a time budget."""

from __future__ import annotations

import contextlib
import json
import math
import threading
from typing import Callable

import anyio
import anyio.lowlevel
from fastapi import Request

from vamer.inference.intake import PredictionError
from vamer.limits import TimelineLimits
from vamer.serving.forms import status_for
from vamer.serving.uploads import Refused
from vamer.timeline.result import Timeline
from vamer.timeline.transcript import Cue, decode_cues

NDJSON = "application/x-ndjson"


async def cues_within(raw: bytes, name: str, accepted: TimelineLimits, timeout_s: float) -> list[Cue] | None:
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


async def while_connected(request: Request, work) -> Timeline | None:
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


def streamed(work, on_end: Callable[[], None]):
    """Start ``work`` and return its answer as lines of JSON: the progress it reports as it goes,
    then its timeline, or the error that stopped it (the status line is sent already: it goes in
    the body).  The work runs in a thread of its own, started here rather than when the answer is
    first read, so that ``on_end`` (which frees the builder and the upload) is called when the work
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
        on_end()

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

"""How ``vamer serve`` runs the app: uvicorn, with limits that keep slow or stalled clients cheap.

uvicorn bounds what one connection may buffer before its request head is complete
(``h11_max_incomplete_event_size``) and how many connections it serves (``limit_concurrency``,
answered with 503), but has no deadline for the head itself: ``timeout_keep_alive`` only runs
between requests (encode/uvicorn#157).  :class:`HeadDeadlineProtocol` adds that deadline, so a
client that trickles its headers is closed after ``header_timeout_s``.  The body has its own
deadline, rate floor and byte budget in :mod:`vamer.serving.uploads`.  Together, N stalled
clients hold at most N x 16 KB until their deadline, and uploads never hold more than
``max_buffered_mb`` between them.

>>> from vamer.serving.server import head_deadline_protocol
>>> head_deadline_protocol(10.0).head_timeout_s
10.0
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from vamer.errors import JobStopped, VamerError
from vamer.inference.predictor import PredictorSettings
from vamer.limits import ServiceLimits

HEAD_BUFFER_BYTES = 16 * 1024  # what a connection may buffer before its request head is complete

log = logging.getLogger("uvicorn.error")


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not complete in time.

    The deadline is armed when the connection opens and again after each response (the next
    request on a kept-alive connection), and disarmed when a request's head has been parsed.
    """

    head_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._cycle_waited_on = self.cycle
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is self._cycle_waited_on and not self.transport.is_closing():
            log.warning("closing %s: no complete request head within %g s", self.client, self.head_timeout_s)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self.cycle is not self._cycle_waited_on:
            self._disarm_head_deadline()  # a new request's head is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)


def head_deadline_protocol(seconds: float) -> type[HeadDeadlineProtocol]:
    """The protocol class with its deadline set (uvicorn instantiates the class it is given)."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout_s": float(seconds)})


def check_port_free(host: str, port: int) -> None:
    """Refuse, before the model loads, a host and port no server could listen on (another server
    holds the port, or the address is not this machine's).  Port 0 (any free port) is never refused."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise VamerError(f"--host {host}: not an address of this machine ({error.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            raise VamerError(
                f"cannot listen on {host}:{port} ({error.strerror}): another server may hold the "
                "port; choose another --port"
            ) from None


def read_api_key(path: Path | None) -> list[str] | None:
    """The service's API keys: every non-empty line of ``path`` (one per client: each key's speaker
    profiles are its own), else ``VAMER_API_KEY``, else none.  A key on the command line itself
    would show in every process listing, so there is no option for it."""
    if path is None:
        return [os.environ["VAMER_API_KEY"]] if os.environ.get("VAMER_API_KEY") else None
    try:
        keys = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise VamerError(f"--api-key-file {path}: cannot be read ({error})") from None
    if not keys or any(len(key) < 16 for key in keys):
        raise VamerError(f"--api-key-file {path}: each key (one per line) must be at least 16 characters")
    return keys


def server_config(app: FastAPI, host: str, port: int, limits: ServiceLimits, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration of ``vamer serve`` (the tests run the same one on loopback)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=head_deadline_protocol(limits.header_timeout_s),
        h11_max_incomplete_event_size=HEAD_BUFFER_BYTES,
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=5,
        # Behind a reverse proxy, X-Forwarded-For/-Proto are trusted from loopback only
        # (uvicorn's default), so the logs name the real client.
        proxy_headers=True,
        server_header=False,
    )


def allowed_hosts(host: str, named: list[str] | None) -> list[str] | None:
    """The Host header values the service answers: those named, else the loopback names when it
    listens on loopback, else any (``None``)."""
    from vamer.serving.app import LOOPBACK_HOSTS

    if named:
        return list(named)
    return list(LOOPBACK_HOSTS) if host in LOOPBACK_HOSTS else None


@dataclass(frozen=True)
class Listen:
    """Where the service listens (``host``, ``port``) and the Host header values it answers
    (``allowed``; default: :func:`allowed_hosts`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    allowed: list[str] | None = None


@dataclass(frozen=True)
class Access:
    """Who may use the service: the file holding the API key ``POST /predict`` needs (else
    ``$VAMER_API_KEY``, else none), and the speaker profiles file (default: the user's)."""

    api_key_file: Path | None = None
    profiles: Path | None = None


def serve(
    model: PredictorSettings, listen: Listen, limits: ServiceLimits, access: Access = Access(), say=print, warn=print
) -> None:
    """``vamer serve``: check the address and the key, load the bundle, and run until stopped."""
    from vamer.serving.app import LOOPBACK_HOSTS, create_app

    host, port = listen.host, listen.port
    api_key = read_api_key(access.api_key_file)
    check_port_free(host, port)  # before the model loads, not after
    # N predictions at once, each on cores / N threads: more threads than cores makes them spin.
    predictor = model.load(threads=max(1, (os.cpu_count() or 1) // limits.concurrency))
    store = predictor.profiles(access.profiles) if predictor.bundle.population is not None else None
    service = create_app(predictor, limits, api_key, allowed_hosts(host, listen.allowed), store)
    say(
        f"serving {model.bundle} on http://{host}:{port}/ (docs at /docs)"
        + (f"; speaker profiles in {store.path}" if store is not None else "")
        + (f"; clips without text are recognised by {model.asr} ({model.asr_language})" if model.asr != "none" else "")
    )
    if host not in LOOPBACK_HOSTS and api_key is None:
        warn(
            f"note: --host {host} answers other machines and POST /predict needs no key; give one with "
            "--api-key-file or VAMER_API_KEY, or serve behind a reverse proxy that checks access "
            "(README: Deploying behind a reverse proxy)"
        )
    try:
        uvicorn.Server(server_config(service, host, port, limits)).run()
    except JobStopped as stopped:
        # uvicorn stops gracefully on SIGTERM or Ctrl-C, then raises the signal again: for a
        # service that is its normal end, not a job cut short.
        say(f"vamer serve: stopped by {stopped.name}; open requests were answered first")

"""A real uvicorn server on loopback, in a thread, serving the shared tiny bundle (or the bundle
named by VAMER_TEST_BUNDLE, e.g. the one `make demo` writes)."""

import contextlib
import os
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from vamer.inference.predictor import Predictor
from vamer.limits import ServiceLimits
from vamer.serving.app import create_app
from vamer.serving.server import server_config

UPLOAD_LIMIT = 20 * 1024 * 1024
# Short deadlines and few slots, so that the slow-client tests finish in seconds.
LIMITS = ServiceLimits(
    max_upload_bytes=UPLOAD_LIMIT,
    max_uploads=16,
    body_timeout_s=2.0,
    header_timeout_s=2.0,
    max_connections=512,
    queue_timeout_s=1.0,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(app, limits=LIMITS):
    """Base URL of ``app`` served by the real uvicorn configuration on a free loopback port."""
    port = free_port()
    instance = uvicorn.Server(server_config(app, "127.0.0.1", port, limits, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code in (200, 401):
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        raise RuntimeError("the service did not start")
    try:
        yield url
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


def health_latencies(url: str, during, timeout_s: float = 30.0):
    """Call ``during()`` while /health is polled every 50 ms (each must answer 200): its result and
    every answer's latency in seconds."""
    latencies, done = [], threading.Event()

    def watch():
        while not done.is_set():
            started = time.monotonic()
            assert httpx.get(url + "/health", timeout=timeout_s).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return during(), latencies
    finally:
        done.set()
        watcher.join(timeout=timeout_s)


@pytest.fixture(scope="session")
def predictor(bundle_dir):
    return Predictor.from_bundle(os.environ.get("VAMER_TEST_BUNDLE") or bundle_dir)


@pytest.fixture(scope="session")
def server(predictor):
    """Base URL of a running service; stopped after the session."""
    with running(create_app(predictor, LIMITS)) as url:
        yield url


@pytest.fixture(scope="session")
def listening_server(bundle_dir):
    """A service whose predictor recognises the words of audio that comes without text."""
    listening = Predictor.from_bundle(os.environ.get("VAMER_TEST_BUNDLE") or bundle_dir, asr="whisper-base")
    with running(create_app(listening, LIMITS)) as url:
        yield url

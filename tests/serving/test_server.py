"""Slow and stalled clients against the real server on loopback (deadlines shortened in conftest)."""

import socket
import time

import httpx
import pytest

from tests.serving.conftest import LIMITS

STALLED_HEADS = 200
STALLED_BODIES = 40


def rss_bytes() -> int:
    """Resident memory of this process (the server runs in a thread of it)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_by_server(sock: socket.socket, deadline: float) -> bytes | None:
    """What the server sent before closing, or None if it is still open at ``deadline``."""
    received = b""
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
    except (socket.timeout, TimeoutError):
        return None
    except ConnectionResetError:
        return received


def test_stalled_clients_are_cut_off_and_cost_little_memory(server):
    before = rss_bytes()
    heads, bodies = [], []
    for _ in range(STALLED_HEADS):  # a request head that never ends
        sock = connect(server)
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000)
        heads.append(sock)
    for _ in range(STALLED_BODIES):  # a 10 MB body announced, 256 KB sent, then nothing
        sock = connect(server)
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 10000000\r\n\r\n--b\r\n" + b"z" * 256_000)
        bodies.append(sock)
    time.sleep(0.5)
    # Meanwhile the service answers, uploads included: stalled bodies hold only the bytes they sent.
    assert httpx.get(server + "/health", timeout=5).status_code == 200
    answered = httpx.post(server + "/predict", files={"audio": ("a.wav", b"RIFF", "audio/wav")}, timeout=5)
    assert answered.status_code == 415, answered.text
    grown = rss_bytes() - before
    # 40 bodies of 256 KB are 10 MB, each held once.
    assert grown < 64 * 1024 * 1024, f"{grown / 1e6:.0f} MB for {STALLED_HEADS + STALLED_BODIES} stalled clients"
    deadline = time.monotonic() + LIMITS.header_timeout_s + LIMITS.body_timeout_s + 5
    head_endings = [closed_by_server(sock, deadline) for sock in heads]
    body_endings = [closed_by_server(sock, deadline) for sock in bodies]
    assert all(ending is not None for ending in head_endings), "a stalled head was never closed"
    assert all(ending is not None for ending in body_endings), "a stalled body was never closed"
    answered = [ending.split(b"\r\n", 1)[0] for ending in body_endings]
    assert answered.count(b"HTTP/1.1 408 Request Timeout") == STALLED_BODIES, answered
    for sock in heads + bodies:
        sock.close()
    assert httpx.get(server + "/health", timeout=5).status_code == 200


def test_a_used_port_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    """Up to vamer 0.2 a second `serve` on a used port loaded the model first, then failed."""
    import socket

    from typer.testing import CliRunner

    from vamer.cli import app
    from vamer.inference import predictor

    monkeypatch.setattr(predictor.Predictor, "from_bundle",
                        classmethod(lambda cls, *a, **k: pytest.fail("the model loaded before the port check")))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--bundle", str(tmp_path / "no-bundle"), "--port", str(port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output, result.output

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
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 10000000\r\n\r\n--b\r\n" + b"z" * 256_000
        )
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
    """A second `serve` on a used port is refused before the model loads."""
    import socket

    from typer.testing import CliRunner

    from vamer.cli import app
    from vamer.inference import predictor

    monkeypatch.setattr(
        predictor.Predictor,
        "from_bundle",
        classmethod(lambda cls, *a, **k: pytest.fail("the model loaded before the port check")),
    )
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--bundle", str(tmp_path / "no-bundle"), "--port", str(port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output, result.output


class Trickler:
    """Clients that send a request head, then a body at ``rate`` bytes/s until the server answers."""

    def __init__(self, url: str, path: str, clients: int, rate: int = 10_240, every_s: float = 0.05) -> None:
        import threading

        self.url, self.path, self.rate = url, path, rate
        self.answers: list[bytes] = []
        self.stop = threading.Event()
        self.threads = []
        for _ in range(clients):
            self.threads.append(threading.Thread(target=self._one, daemon=True))
            self.threads[-1].start()
            time.sleep(every_s)

    def _one(self) -> None:
        sock = connect(self.url)
        sock.sendall(
            f"POST {self.path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            'Content-Length: 10000000\r\n\r\n--b\r\nContent-Disposition: form-data; name="audio"; '
            'filename="a.wav"\r\n\r\n'.encode()
        )
        sock.settimeout(0.1)
        answer = b""
        with sock:
            while not self.stop.is_set():
                try:
                    sock.sendall(b"z" * (self.rate // 10))
                    answer += sock.recv(4096)
                    if answer:
                        break
                except (socket.timeout, TimeoutError):
                    continue
                except OSError:
                    break
        self.answers.append(answer.split(b"\r\n", 1)[0])

    def close(self, wait_s: float = 0.0) -> None:
        """Stop the clients still sending, after ``wait_s`` for the server to answer them."""
        deadline = time.monotonic() + wait_s
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_trickling_clients_leave_room_for_a_normal_one(predictor, trained, long_recording):
    """Issue 30, item 3: 60 clients at 10 KB/s (above the 8 KB/s floor) made a normal /predict answer
    503 after 30 s, and 5 such clients did it to /timeline.  With the service's own deadlines."""
    from tests.serving.conftest import running
    from tests.serving.test_app import demo_wav
    from vamer.limits import ServiceLimits
    from vamer.serving.app import create_app

    limits = ServiceLimits()
    clip = demo_wav(trained).read_bytes()
    with running(create_app(predictor, limits), limits) as url:
        crowd = Trickler(url, "/predict", 60)
        try:
            health, health_s = timed(lambda: httpx.get(url + "/health", timeout=5))
            answer, took = timed(
                lambda: httpx.post(url + "/predict", files={"audio": ("a.wav", clip, "audio/wav")}, timeout=60)
            )
        finally:
            crowd.close(wait_s=8)
        assert health.status_code == 200 and health_s < 0.2, health_s
        assert answer.status_code == 200 and took < 2, (answer.status_code, took)
        # Crowded, the floor rose to 8 KB/s x 60 / 16: tricklers were cut off within seconds, not left to
        # their 30 s deadline, until about max_uploads were left arriving (where 10 KB/s meets the floor).
        assert crowd.answers.count(b"HTTP/1.1 408 Request Timeout") >= 60 - 2 * limits.max_uploads, crowd.answers

        builders = Trickler(url, "/timeline", 5)
        try:
            audio = long_recording.path.read_bytes()
            built = httpx.post(url + "/timeline", files={"audio": ("long.wav", audio, "audio/wav")}, timeout=300)
        finally:
            builders.close()
        assert built.status_code == 200, built.text

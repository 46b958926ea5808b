"""Memory of `vamer serve` under hostile and large uploads: the server's peak resident memory above
its idle level, per request, each in a fresh server process.

    .venv/bin/python bench/serve_memory.py [--bundle build/demo-run/run/bundle] [--cases wide,wav,transcript]

Cases:
- ``wide``: POST /timeline with a FLAC of 40 s, 8 channels at 655,350 Hz (a few hundred KB that
  decode to 839 MB of float32 samples);
- ``wav``: POST /timeline with a 230 MB WAV (an hour of 16 kHz 16-bit stereo, silence);
- ``transcript``: POST /timeline with a short recording and an 18 MB SRT of 300,000 cues, while
  /health is polled (its slowest answer is printed too).

Each line: the case, the answer's status, seconds, idle RSS, peak RSS (the kernel's VmHWM) and peak
minus idle.  Targets: ``wide`` under 300 MB above idle; /health under 200 ms.
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def wide_flac() -> bytes:
    rate, buffer = 655_350, io.BytesIO()
    t = np.arange(rate) / rate
    second = np.stack([0.05 * np.sin(2 * np.pi * 220 * (c + 1) * t) for c in range(8)], axis=1).astype(np.float32)
    with soundfile.SoundFile(buffer, "w", samplerate=rate, channels=8, format="FLAC", subtype="PCM_16") as sink:
        for _ in range(40):
            sink.write(second)
    return buffer.getvalue()


def hour_wav() -> bytes:
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", samplerate=16_000, channels=2, format="WAV", subtype="PCM_16") as sink:
        block = np.zeros((16_000 * 60, 2), dtype=np.int16)
        for _ in range(60):
            sink.write(block)
    return buffer.getvalue()


def huge_srt() -> bytes:
    def stamp(seconds: float) -> str:
        millis = int(round(seconds * 1000))
        return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"

    return "".join(
        f"{i}\n{stamp(i * 0.01)} --> {stamp(i * 0.01 + 0.005)}\n안녕하세요 여러분 반갑습니다\n\n"
        for i in range(1, 300_001)
    ).encode()


def short_wav() -> bytes:
    buffer = io.BytesIO()
    t = np.arange(16_000 * 5) / 16_000
    soundfile.write(buffer, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000, format="WAV")
    return buffer.getvalue()


def one_case(bundle: Path, case: str) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "vamer.cli", "serve", "--bundle", str(bundle), "--port", str(port), "--asr", "none"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        files = {
            "wide": lambda: {"audio": ("wide.flac", wide_flac(), "audio/flac")},
            "wav": lambda: {"audio": ("hour.wav", hour_wav(), "audio/wav")},
            "transcript": lambda: {
                "audio": ("short.wav", short_wav(), "audio/wav"),
                "transcript": ("huge.srt", huge_srt(), "application/x-subrip"),
            },
        }[case]()
        time.sleep(1.0)
        idle = memory_kb(server.pid)["VmRSS"]
        latencies, done = [], threading.Event()

        def watch():
            while not done.is_set():
                started = time.monotonic()
                httpx.get(url + "/health", timeout=60)
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.monotonic()
        answer = httpx.post(url + "/timeline", files=files, timeout=1800)
        took = time.monotonic() - started
        done.set()
        watcher.join()
        peak = memory_kb(server.pid)["VmHWM"]
        return (
            f"{case:10s} status {answer.status_code}  {took:6.1f} s  idle {idle / 1024:6.0f} MB  peak "
            f"{peak / 1024:6.0f} MB  above idle {(peak - idle) / 1024:6.0f} MB  slowest /health "
            f"{max(latencies) * 1000:5.0f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=Path("build/demo-run/run/bundle"))
    parser.add_argument("--cases", default="wide,wav,transcript")
    args = parser.parse_args()
    for case in args.cases.split(","):
        print(one_case(args.bundle, case), flush=True)


if __name__ == "__main__":
    main()

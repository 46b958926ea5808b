"""Load test: `vamer serve` on loopback, driven by concurrent clients posting demo utterances.

    .venv/bin/python bench/serve.py [--bundle build/demo-run/run/bundle] [--corpus build/demo-corpus]
                                    [--clients 50] [--requests 20] [--time-limit 600] [--engine torch]
                                    [--concurrency 2]

Starts the real server as its own process (uvicorn, as a user would), waits for /health, then
runs ``--clients`` concurrent clients that each send ``--requests`` POST /predict requests (a demo
wav and its transcript, cycling through the corpus).  The whole load is bounded by
``--time-limit`` seconds; unfinished requests count as errors.  Prints p50/p95/max latency,
throughput and the error count (target: 0 errors).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from vamer.data.readers import load


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def client(
    http: httpx.AsyncClient, requests: list[tuple[bytes, str]], latencies: list[float], errors: list[str]
) -> None:
    for audio, text in requests:
        started = time.perf_counter()
        try:
            response = await http.post(
                "/predict", files={"audio": ("clip.wav", audio, "audio/wav")}, data={"text": text}
            )
            if response.status_code != 200 or "label" not in response.json():
                errors.append(f"{response.status_code}: {response.text[:120]}")
                continue
        except httpx.HTTPError as error:
            errors.append(f"{type(error).__name__}: {error}")
            continue
        latencies.append(time.perf_counter() - started)


async def load_test(url: str, work: list[list[tuple[bytes, str]]], time_limit: float) -> tuple[list, list, float]:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.PredictionLimits(max_connections=len(work), max_keepalive_connections=len(work))
    async with httpx.AsyncClient(base_url=url, timeout=time_limit, limits=limits) as http:
        started = time.perf_counter()
        tasks = [asyncio.create_task(client(http, requests, latencies, errors)) for requests in work]
        done, pending = await asyncio.wait(tasks, timeout=time_limit)
        for task in pending:
            task.cancel()
        elapsed = time.perf_counter() - started
    expected = sum(len(requests) for requests in work)
    missing = expected - len(latencies) - len(errors)
    errors.extend(["unfinished within the time limit"] * missing)
    return latencies, errors, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=Path("build/demo-run/run/bundle"))
    parser.add_argument("--corpus", type=Path, default=Path("build/demo-corpus"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--engine", default="torch")
    parser.add_argument("--concurrency", type=int, default=2, help="the server's --concurrency")
    args = parser.parse_args()

    table = load(args.corpus, read_bio=False).utterances
    clips = [(Path(p).read_bytes(), t) for p, t in zip(table["audio_path"], table["text"])]
    work = [[clips[(c * args.requests + r) % len(clips)] for r in range(args.requests)] for c in range(args.clients)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    vamer = str(Path(sys.executable).with_name("vamer"))
    server = subprocess.Popen(
        [
            vamer,
            "serve",
            "--bundle",
            str(args.bundle),
            "--port",
            str(port),
            "--engine",
            args.engine,
            "--concurrency",
            str(args.concurrency),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                sys.exit(f"server exited: {server.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            sys.exit("server did not answer /health within 120 s")
        mean_seconds = float(np.mean(table["duration_s"]))
        print(
            f"server up ({args.engine}, concurrency {args.concurrency}); {args.clients} clients x "
            f"{args.requests} requests, demo clips "
            f"averaging {mean_seconds:.1f} s, time limit {args.time_limit:g} s"
        )
        latencies, errors, elapsed = asyncio.run(load_test(url, work, args.time_limit))
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = np.array(latencies) * 1e3
    total = args.clients * args.requests
    print(f"requests {total}: ok {len(latencies)}, errors {len(errors)}")
    if len(ms):
        print(f"latency p50 {np.percentile(ms, 50):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms")
    print(f"throughput {len(latencies) / elapsed:.1f} requests/s over {elapsed:.1f} s")
    for message in sorted(set(errors))[:5]:
        print(f"  error: {message} (x{errors.count(message)})")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

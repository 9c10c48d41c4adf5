"""Load on `anymae serve` (issue 24): bounded bursts of concurrent `POST /api/reconstruct` on loopback.

    python benchmarks/serve_load.py runs/demo                      # 200 requests, 16 at a time, per mode
    python benchmarks/serve_load.py runs/demo --requests 200 --concurrency 16 --threads 1

Starts the server in this process (uvicorn on 127.0.0.1, a free port), warms it with one request, then
for each mode sends `--requests` requests with at most `--concurrency` in flight (httpx, asyncio) and
reports p50 / p95 / max latency, throughput and the count of non-200 answers (none expected). Modes:
`sample` (a built-in sample, JSON answer), `upload` (a 64x48 PNG uploaded, JSON answer), `png` (an upload,
the one-PNG answer). Loopback only: the server never binds another address here.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import socket
import statistics
import threading
import time

import httpx
import torch
import uvicorn
from PIL import Image

from anymae.serve.app import create_app


def upload_png() -> bytes:
    image = Image.new("RGB", (64, 48), (235, 235, 235))
    image.paste((200, 30, 30), (10, 8, 42, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def request_for(mode: str, i: int) -> dict:
    """httpx keyword arguments of request i: ratio and seed vary, so no two answers are the same."""
    data = {"ratio": str(round(0.25 + 0.05 * (i % 11), 2)), "seed": str(i), "masker": "random"}
    if mode == "sample":
        return {"data": {**data, "sample": str(i % 16)}}
    files = {"file": ("mine.png", upload_png(), "image/png")}
    return {"data": {**data, "format": "png" if mode == "png" else "json"}, "files": files}


async def burst(url: str, mode: str, requests: int, concurrency: int) -> dict:
    gate = asyncio.Semaphore(concurrency)
    latencies, errors = [], []

    async def one(client, i):
        async with gate:
            start = time.perf_counter()
            answer = await client.post(url + "api/reconstruct", **request_for(mode, i))
            latencies.append(time.perf_counter() - start)
            if answer.status_code != 200:
                errors.append(f"{answer.status_code}: {answer.text[:120]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one(client, i) for i in range(requests)))
        wall = time.perf_counter() - start
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"mode": mode, "requests": requests, "concurrency": concurrency, "p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * pick(0.95), "max_ms": 1000 * ordered[-1], "per_s": requests / wall, "errors": len(errors),
            "first_error": errors[0] if errors else ""}


def serve(run: str) -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app([run]), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder to serve")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--modes", default="sample,upload,png")
    args = parser.parse_args()
    if not (1 <= args.requests <= 2000 and 1 <= args.concurrency <= 64):
        raise SystemExit("--requests must be in 1..2000 and --concurrency in 1..64 (bounded bursts)")
    torch.set_num_threads(args.threads)
    server, url = serve(args.run)
    warm = httpx.post(url + "api/reconstruct", data={"ratio": "0.75"}, timeout=300)
    assert warm.status_code == 200, warm.text
    rows = [asyncio.run(burst(url, mode, args.requests, args.concurrency)) for mode in args.modes.split(",")]
    server.should_exit = True
    print(f"{args.run}: {args.requests} requests per mode, {args.concurrency} in flight, torch threads {args.threads}, "
          f"{torch.get_num_threads()} used, CPU count {__import__('os').cpu_count()}")
    print("| mode | requests | in flight | p50 ms | p95 ms | max ms | requests/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['requests']} | {r['concurrency']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
              f"{r['max_ms']:.0f} | {r['per_s']:.1f} | {r['errors']} |")
        if r["first_error"]:
            print(f"first error ({r['mode']}): {r['first_error']}")


if __name__ == "__main__":
    main()

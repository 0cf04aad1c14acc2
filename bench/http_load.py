"""A lean HTTP/1.1 load generator: keep-alive connections on raw asyncio streams, bodies encoded up front.

The benchmark's client shares the cores with the server it measures, so every CPU millisecond it
spends per request is taken from the server. httpx's asyncio client does real work per request
(connection pool, header models, JSON decoding); this client writes pre-built request bytes and
reads the status line, the headers and ``Content-Length`` bytes of body, nothing more. Both report
their CPU time per request (bench/results/x86_64-amd-avx512bf16/serve.md). It speaks just enough HTTP for the two servers under test (uvicorn answers JSON with
a Content-Length); anything else is an error, never a silent miscount.
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np


def post_json(port: int, path: str, body: dict) -> bytes:
    """One keep-alive POST of ``body`` as JSON, as the bytes that go on the wire."""
    payload = json.dumps(body).encode("utf-8")
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode("ascii") + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one response; raises ValueError on what this client does not speak."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {lines[0]!r}")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            raise ValueError(f"response uses Transfer-Encoding {value.strip()!r}; this client reads Content-Length only")
    if length is None:
        raise ValueError("response has no Content-Length")
    return int(parts[1]), await reader.readexactly(length)


async def load(port: int, requests_: list[bytes], clients: int, count: int) -> dict[str, float]:
    """``clients`` connections, each sending its next request once the previous one is answered, until
    ``count`` answers; throughput, latency percentiles, errors (non-200) and the client's own CPU time."""
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def worker() -> None:
        nonlocal next_index, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < count:
                request = requests_[next_index % len(requests_)]
                next_index += 1
                start = time.perf_counter()
                writer.write(request)
                status, _ = await read_response(reader)
                latencies.append(time.perf_counter() - start)
                errors += status != 200
        finally:
            writer.close()

    cpu, begin = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return summary(latencies, errors, time.perf_counter() - begin, time.process_time() - cpu)


def summary(latencies: list[float], errors: int, wall: float, cpu: float) -> dict[str, float]:
    """One load run's figures: answers, errors, throughput, p50/p99 latency (ms), client CPU-ms per request."""
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "seconds": wall, "throughput": len(latencies) / wall,
            "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "client_cpu_ms": 1000 * cpu / len(latencies)}

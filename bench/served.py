"""A uvicorn server of the API in a subprocess, for the HTTP benchmarks (``bench/http_api.py`` and its
search-only section): started on loopback with a clean ``RAG_*`` environment, waited for (ready, then
idle), read from ``/metrics``, and loaded by a lean closed-loop client.

The lean client (``lean_load``) writes pre-encoded HTTP/1.1 requests on keep-alive connections and reads
each answer by its ``Content-Length``: ~0.05 ms of client CPU a request where httpx took ~3 ms, which on a
2-vCPU box was CPU taken from the server it measured (measured with ``/proc`` CPU times).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LEAN_CLIENT = "lean: asyncio streams, keep-alive, pre-encoded HTTP/1.1 requests (bench/served.py)"


def start(settings: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``api.app:create_app`` on 127.0.0.1:``port`` with ``settings`` as its only ``RAG_*`` variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env |= {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), "HF_HUB_OFFLINE": "1"}
    env |= settings
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the benchmark's server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the benchmark's server did not become ready")


def wait_idle(process: subprocess.Popen[bytes], *, busy: float = 0.05, timeout: float = 120.0) -> float:
    """Until the server uses under ``busy`` of a core over half a second; returns the seconds waited.
    ``/readyz`` answers before the background warming (the lexical index's build and its merges) is
    done; loads timed meanwhile share the CPU with it (one run's 1-client QPS came out 2.5x low)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = _cpu_seconds(process.pid)
        time.sleep(0.5)
        if _cpu_seconds(process.pid) - before < busy * 0.5:
            break
    return round(time.monotonic() - started, 1)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_pair(url: str, prefix: str, first: str, second: str) -> tuple[float, float]:
    """Two ``/metrics`` samples ``{prefix}{first}`` and ``{prefix}{second}`` (0 when absent)."""
    text = httpx.get(f"{url}/metrics").text
    pattern = rf"^{re.escape(prefix)}({re.escape(first)}|{re.escape(second)}) (\S+)$"
    found = dict(re.findall(pattern, text, flags=re.MULTILINE))
    return float(found.get(first, 0.0)), float(found.get(second, 0.0))


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3), "n": len(ordered)}


def post(path: str, body: dict[str, Any]) -> bytes:
    """One pre-encoded HTTP/1.1 POST of ``body`` as JSON (keep-alive)."""
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")  # fmt: skip
    return head.encode() + data


async def lean_load(port: int, requests: list[list[bytes]]) -> dict[str, Any]:
    """Closed loop: one connection per list in ``requests``, each sending its requests in turn (the next
    once the answer is in). QPS, p50 and p99 over all; any answer but 200 raises, and every client's last
    answer is returned parsed (``last``) for the caller to check."""
    latencies: list[float] = []
    last: list[Any] = []

    async def client(mine: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            body = b""
            for request in mine:
                started = time.perf_counter()
                writer.write(request)
                body = await _answer(reader)
                latencies.append((time.perf_counter() - started) * 1000.0)
            last.append(json.loads(body))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(mine) for mine in requests))
    elapsed = time.perf_counter() - started
    return {"qps": round(len(latencies) / elapsed, 1), **percentiles(latencies), "last": last}


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    if status != b"200":
        raise RuntimeError(f"the server answered {head.decode(errors='replace').splitlines()[0]}")
    match = re.search(rb"\r\ncontent-length: *(\d+)", head, flags=re.IGNORECASE)
    if match is None:
        raise RuntimeError("the benchmark's lean client needs a Content-Length answer")
    return await reader.readexactly(int(match.group(1)))

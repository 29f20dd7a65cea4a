"""A uvicorn server of the API in a subprocess, for the HTTP benchmarks (``bench/http_api.py`` and its
search-only section): started on loopback with a clean ``RAG_*`` environment, waited for, and read from
``/metrics``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def start(settings: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``api.app:create_app`` on 127.0.0.1:``port`` with ``settings`` as its only ``RAG_*`` variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env |= {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), "HF_HUB_OFFLINE": "1"}
    env |= settings
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env)


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


def metric_pair(url: str, prefix: str, first: str, second: str) -> tuple[float, float]:
    """Two ``/metrics`` samples ``{prefix}{first}`` and ``{prefix}{second}`` (0 when absent)."""
    text = httpx.get(f"{url}/metrics").text
    pattern = rf"^{re.escape(prefix)}({re.escape(first)}|{re.escape(second)}) (\S+)$"
    found = dict(re.findall(pattern, text, flags=re.MULTILINE))
    return float(found.get(first, 0.0)), float(found.get(second, 0.0))

"""API fixtures: in-process apps on the fake embedder, and one real uvicorn server on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from rag.settings import Settings
from tests.conftest import REPO_ROOT

KEYS = {
    "admin": "admin-key-0123456789",
    "writer": "writer-key-0123456789",
    "reader": "reader-key-0123456789",
    "other": "other-key-0123456789",
}
KEY_CONFIG = [
    {"key": KEYS["admin"], "role": "admin", "collections": "*", "name": "admin"},
    {"key": KEYS["writer"], "role": "write", "collections": ["default"], "name": "writer"},
    {"key": KEYS["reader"], "role": "read", "collections": ["default"], "name": "reader"},
    {"key": KEYS["other"], "role": "admin", "collections": ["other"], "name": "other"},
]


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "doc_model": "fake:64", "query_model": "fake:64"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An in-process app without keys, on the fake embedder, with a ``default`` collection."""
    app = create_app(settings, embedder=HashEmbedder(64))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        assert test_client.post("/v1/collections", json={"name": "default"}).status_code == 201
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        RAG_DATA_DIR=str(data_dir),
        RAG_DOC_MODEL="fake:64",
        RAG_QUERY_MODEL="fake:64",
        HF_HUB_OFFLINE="1",
        OMP_WAIT_POLICY="PASSIVE",
    )
    env.update(extra)
    return env


def uvicorn_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
        "--host", host, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, role: str | None = "admin", timeout: float = 30.0) -> httpx.Client:
        headers = bearer(role) if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until ``/healthz`` and then ``/readyz`` answer 200; fails early if the server died."""
    deadline = time.monotonic() + timeout
    for path in ("/healthz", "/readyz"):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                if httpx.get(url + path, timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}{path} did not answer 200 within {timeout} s")
            time.sleep(0.1)


def start_server(data_dir: Path, **env_extra: str) -> LiveServer:
    """A real uvicorn process on a free loopback port (fake:64), ready to serve."""
    port = free_port()
    log = data_dir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            uvicorn_command(port),
            cwd=REPO_ROOT,
            env=server_env(data_dir, **env_extra),
            stdout=sink,
            stderr=sink,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(server.url, process)
    except Exception:
        stop_server(server)
        raise
    return server


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def keyed_server(data_dir: Path) -> LiveServer:
    """A server with the test keys, small limits, and the collections ``default`` and ``other``."""
    server = start_server(
        data_dir,
        RAG_API_KEYS=json.dumps(KEY_CONFIG),
        RAG_MAX_BODY_BYTES=str(64 * 1024),
        RAG_MAX_UPLOAD_BYTES=str(256 * 1024),
        RAG_BACKGROUND_JOB_THRESHOLD="4",
    )
    with server.client("admin") as admin:
        for name in ("default", "other"):
            assert admin.post("/v1/collections", json={"name": name}).status_code == 201
    return server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = keyed_server(tmp_path_factory.mktemp("live-data"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless chromium per test module, with a fresh profile (skips where chromium is absent)."""
    from tests.api.browser import require_browser, start_browser

    require_browser()
    driver = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()

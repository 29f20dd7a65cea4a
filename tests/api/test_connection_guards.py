"""Slow and greedy clients (issue 15.9) against a real ``rag serve`` on loopback, over raw sockets: a
request head that never completes is closed after RAG_HEADER_TIMEOUT_S, a body that trickles answers 408
after RAG_BODY_TIMEOUT_S, and connections over RAG_MAX_CONNECTIONS_PER_CLIENT are refused while the
ones within it are served."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import LiveServer, free_port, server_env, stop_server, wait_ready
from tests.conftest import REPO_ROOT

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.5
PER_CLIENT = 4
RAG = [sys.executable, "-c", "from ingest.cli.main import main; main()"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("guarded")
    port = free_port()
    env = server_env(
        data_dir,
        RAG_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        RAG_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        RAG_MAX_CONNECTIONS_PER_CLIENT=str(PER_CLIENT),
    )
    command = [*RAG, "serve", "--port", str(port)]
    log = data_dir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=sink)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(server.url, process)
        yield server
    finally:
        stop_server(server)


def _connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection (reads EOF or a reset), None if still open."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def _response(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_half_a_header_is_closed_after_the_timeout(guarded: LiveServer) -> None:
    with _connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        waited = _closed_within(sock, HEADER_TIMEOUT_S + 5)
    assert waited is not None, "a connection with half a header was still open"
    assert waited < HEADER_TIMEOUT_S + 2


def test_a_silent_connection_is_closed_after_the_timeout(guarded: LiveServer) -> None:
    with _connect(guarded) as sock:
        assert _closed_within(sock, HEADER_TIMEOUT_S + 5) is not None


def test_a_slow_body_answers_408_and_closes(guarded: LiveServer) -> None:
    body = b'{"collection": "default", "query": "slow", "top_k": 1}'
    head = (
        "POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(guarded) as sock:
        sock.sendall(head + body[:5])  # the head whole, the body never finished
        started = time.monotonic()
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"error_type":"request_timeout"' in answer
    assert time.monotonic() - started < BODY_TIMEOUT_S + 3


def test_a_request_sent_in_time_is_served_on_the_guarded_protocol(guarded: LiveServer) -> None:
    with _connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert _response(sock).startswith(b"HTTP/1.1 200")


def test_connections_over_the_per_client_bound_are_refused_others_served(guarded: LiveServer) -> None:
    held = [_connect(guarded) for _ in range(PER_CLIENT)]
    try:
        time.sleep(0.2)  # the server has counted them
        with _connect(guarded) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            refused = _response(extra)
        assert refused.startswith(b"HTTP/1.1 429"), refused[:200]
        assert b"too many connections" in refused
        # the held ones are served
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert _response(held[0]).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)  # closed ones no longer count
    assert httpx.get(guarded.url + "/healthz", timeout=5).status_code == 200


def test_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [*RAG, "serve", "--port", str(port)]
        done = subprocess.run(
            command, cwd=REPO_ROOT, env=server_env(tmp_path), capture_output=True, text=True, timeout=60
        )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "model" not in done.stderr


def test_rag_serve_runs_on_uvloop_and_httptools(guarded: LiveServer) -> None:
    """uvicorn[standard]'s fast parts are what ``rag serve`` runs: uvloop is mapped into the server process
    (uvicorn imports it only to run on it), and the guarded protocol it serves with is httptools'."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from api.connguard import GuardedProtocol
    from ingest.cli.serve_cmd import GUARDED_PROTOCOL

    with httpx.Client(base_url=guarded.url) as client:
        assert client.get("/healthz").status_code == 200
    assert "uvloop/loop." in Path(f"/proc/{guarded.process.pid}/maps").read_text()
    assert GUARDED_PROTOCOL == "api.connguard:GuardedProtocol"
    assert issubclass(GuardedProtocol, HttpToolsProtocol)

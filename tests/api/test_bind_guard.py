"""Without keys, a server bound beyond loopback by hand (``uvicorn ... --host 0.0.0.0``, no ``RAG_HOST``)
answers only on loopback: the socket a request arrived on decides, not the setting (issue 15.12)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.api.conftest import LiveServer, free_port, server_env, stop_server, uvicorn_command, wait_ready
from tests.conftest import REPO_ROOT


def outside_address() -> str:
    """An address of this machine that is not loopback (the one its route to other hosts uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))  # no packet is sent: UDP connect only picks the route
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), "the test needs a non-loopback interface"
    return address


def test_keyless_server_on_all_interfaces_refuses_non_loopback_requests(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            uvicorn_command(port, host="0.0.0.0"),
            cwd=REPO_ROOT,
            env=server_env(tmp_path / "data"),
            stdout=sink,
            stderr=sink,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(server.url, process)
        assert httpx.get(f"{server.url}/v1/collections").status_code == 200  # loopback: served
        outside = httpx.get(f"http://{outside_address()}:{port}/v1/collections")
        assert outside.status_code == 403
        assert outside.json()["error_type"] == "forbidden" and "API keys" in outside.json()["error"]
    finally:
        stop_server(server)

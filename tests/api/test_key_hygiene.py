"""Keys stay out of the logs and are hard to guess: a key in the query string is redacted from uvicorn's
access log, empty or short keys are refused when loaded (issue 15.14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from api.auth import MIN_KEY_LENGTH, load_keyring
from api.logredact import redact_query
from rag.errors import ConfigError
from tests.api.conftest import (
    KEY_CONFIG,
    LiveServer,
    free_port,
    make_settings,
    server_env,
    stop_server,
    wait_ready,
)
from tests.conftest import REPO_ROOT

SECRET = "supersecret-in-the-url-0123456789"


def test_query_string_key_is_redacted_from_the_access_log(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port),
               "--log-level", "info"]  # fmt: skip
    env = server_env(tmp_path / "data", RAG_API_KEYS=json.dumps(KEY_CONFIG))
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=sink)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(server.url, process)
        for name in ("api_key", "key", "token", "access_token"):
            httpx.get(f"{server.url}/v1/collections", params={name: SECRET, "limit": 3})
    finally:
        stop_server(server)
    text = log.read_text()
    assert "/v1/collections?api_key=[redacted]&limit=3" in text, text
    assert SECRET not in text


@pytest.mark.parametrize("key", ["", "   ", "short", "x" * (MIN_KEY_LENGTH - 1)])
def test_empty_or_short_keys_are_refused_without_echoing_them(tmp_path: Path, key: str) -> None:
    settings = make_settings(tmp_path, api_keys=SecretStr(json.dumps([{"key": key, "role": "read"}])))
    with pytest.raises(ConfigError, match=f"at least {MIN_KEY_LENGTH} characters") as caught:
        load_keyring(settings)
    assert key.strip() == "" or key not in caught.value.message


def test_redaction_keeps_other_parameters() -> None:
    assert redact_query("/v1/x?limit=3&apiKey=abc&q=key") == "/v1/x?limit=3&apiKey=[redacted]&q=key"

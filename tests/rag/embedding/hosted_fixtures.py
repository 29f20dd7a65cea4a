"""The "hosted" side of the hosted-backend tests: our own API on loopback serving tiny checkpoints in
folders named with the hosted names, and a small loopback server that answers 429 once."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from tests.api.conftest import LiveServer, start_server, stop_server
from tests.rag.embedding.tiny_checkpoints import write_pplx_checkpoint

API_KEY = "hosted-key-0123456789"
V1, CONTEXT = "pplx-embed-v1-0.6b", "pplx-embed-context-v1-0.6b"


def write_hosted_models(root: Path) -> dict[str, Path]:
    """Tiny checkpoints under the hosted names (the served name is the folder's name)."""
    return {
        V1: write_pplx_checkpoint(root / V1, contextual=False, seed=1),
        CONTEXT: write_pplx_checkpoint(root / CONTEXT, contextual=True, seed=2),
    }


def start_hosted(data_dir: Path, models: dict[str, Path]) -> LiveServer:
    keys = [{"key": API_KEY, "role": "read", "collections": "*", "name": "hosted"}]
    return start_server(
        data_dir,
        RAG_DOC_MODEL=str(models[CONTEXT]),
        RAG_QUERY_MODEL=str(models[V1]),
        RAG_API_KEYS=json.dumps(keys),
        RAG_RUNTIME="torch",
    )


class RateLimitedOnce:
    """A loopback server for /v1/embeddings: the first POST gets 429 with ``Retry-After: 1``, every
    later one 200 with ``codes`` (one row per input). ``hits`` records (status, time) per request."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes
        self.hits: list[tuple[int, float]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                import time

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                if not owner.hits:
                    owner.hits.append((429, time.monotonic()))
                    self._send(429, {"error": "slow down"}, {"Retry-After": "1"})
                    return
                owner.hits.append((200, time.monotonic()))
                rows = [
                    base64.b64encode(owner.codes[i % len(owner.codes)].tobytes()).decode()
                    for i in range(len(inputs))
                ]
                data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
                usage = {
                    "prompt_tokens": 3,
                    "total_tokens": 3,
                    "cost": {"input_cost": 0.5, "total_cost": 0.5, "currency": "USD"},
                }
                self._send(200, {"object": "list", "data": data, "model": body["model"], "usage": usage}, {})

            def _send(self, status: int, payload: object, headers: dict[str, str]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> RateLimitedOnce:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def hosted_server(root: Path) -> Iterator[tuple[LiveServer, dict[str, Path]]]:
    models = write_hosted_models(root / "models")
    (root / "data").mkdir(parents=True, exist_ok=True)
    server = start_hosted(root / "data", models)
    try:
        yield server, models
    finally:
        stop_server(server)

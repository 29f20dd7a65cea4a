"""``rag serve``: run the HTTP API under uvicorn.

The app is named by its factory string, so the command line never imports ``api``; ``create_app`` builds
its settings from the environment, so the global options travel there as ``RAG_*`` variables.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.app import app, state
from rag.errors import ConfigError

APP_FACTORY = "api.app:create_app"
# uvicorn's protocol with a request-head deadline and a per-client connection bound (api/connguard.py),
# named by its import string like the app
GUARDED_PROTOCOL = "api.connguard:GuardedProtocol"
# The settings the global options (and serve's own) can change; the rest the server reads from the
# environment itself.
FORWARDED = (
    "data_dir",
    "doc_model",
    "query_model",
    "device",
    "dtype",
    "document_mode",
    "host",
    "port",
    "api_keys_file",
    "allow_insecure_bind",
)


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default: RAG_HOST).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: RAG_PORT).")] = None,
    api_keys_file: Annotated[
        Path | None,
        typer.Option("--api-keys-file", help="JSON file of API keys (default: RAG_API_KEYS_FILE)."),
    ] = None,
    allow_insecure_bind: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-bind",
            help="Serve without API keys on a non-loopback address (anyone who can reach it can write).",
        ),
    ] = False,
) -> None:
    """Serve the retrieval API (loopback by default; other addresses need API keys).

    Examples:

        rag --data-dir data serve --port 8000
    """
    settings = state(ctx).settings
    values = settings.model_dump() | {
        "host": host or settings.host,
        "port": port or settings.port,
        "api_keys_file": api_keys_file or settings.api_keys_file,
        "allow_insecure_bind": allow_insecure_bind or settings.allow_insecure_bind,
    }
    os.environ.update(server_environment(values))
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("rag serve needs the api extra: pip install 'pplx-rag[api]'.") from None
    check_port_free(values["host"], values["port"])  # before the model loads: the real reason, at once
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=values["host"],
        port=values["port"],
        http=GUARDED_PROTOCOL,
        timeout_keep_alive=settings.keep_alive_s,
    )


def check_port_free(host: str, port: int) -> None:
    """``ConfigError`` naming the port when something already listens there (uvicorn would only exit
    later, after the app started loading its model, and the log would blame the model)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot bind {host!r}: {exc.strerror}.") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use (another server?); pick another with --port."
                ) from None
            raise ConfigError(f"cannot bind port {port} on {host}: {exc.strerror}.") from None


def server_environment(values: dict[str, object]) -> dict[str, str]:
    """``RAG_*`` variables for the forwarded settings that have a value."""
    return {f"RAG_{key.upper()}": str(values[key]) for key in FORWARDED if values.get(key) is not None}

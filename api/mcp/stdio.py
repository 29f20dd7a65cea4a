"""``rag mcp``: the MCP server over stdio, on a state of its own (one library, one model load).

The command line names ``main`` by its import string (``api.mcp.stdio:main``), as ``rag serve`` names the
app factory, so ``ingest`` never imports ``api``. Settings come from the environment (``RAG_*``). Stdout
carries the protocol only: the SDK points fd 1 at stderr while it serves, and the model loads (and logs,
on stderr) inside that, as the server's lifespan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from api.app import package_version
from api.mcp.server import build_server
from api.state import AppState
from rag.settings import Settings

LOOPBACK = "127.0.0.1"


def stdio_settings() -> Settings:
    """``RAG_*`` settings; the host is loopback whatever ``RAG_HOST`` says, since stdio binds nothing."""
    no_overrides: dict[str, Any] = {}
    return Settings(**no_overrides).model_copy(update={"host": LOOPBACK})


def _log_to_stderr() -> None:
    """The service's log lines (model loaded, auth mode) on stderr, once (not also through the root)."""
    api_logger = logging.getLogger("api")
    if not api_logger.handlers:
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter("%(levelname)s: [rag mcp] %(message)s"))
        api_logger.addHandler(handler)
        api_logger.setLevel(logging.INFO)
        api_logger.propagate = False


def serve(settings: Settings) -> None:
    """Serve MCP on stdin/stdout until the client closes them."""
    _log_to_stderr()
    state = AppState(settings)

    @asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[None]:
        await state.start()  # the model loads in the background; tools wait for it
        try:
            yield
        finally:
            await state.close()

    server = build_server(state, lifespan=lifespan, version=package_version())
    anyio.run(server.run_stdio_async)


def main() -> None:
    serve(stdio_settings())

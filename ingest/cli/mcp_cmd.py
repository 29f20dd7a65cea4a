"""``rag mcp``: serve the collections to an MCP client (Claude Desktop, Cursor, ...) over stdio.

The server is named by its import string, as ``rag serve`` names the app factory, so the command line
never imports ``api`` itself; the global options travel there as ``RAG_*`` variables. Nothing but the
protocol may reach stdout: this command prints nothing, and the server logs on stderr.
"""

from __future__ import annotations

import importlib
import os

import typer

from ingest.cli.app import app, state
from ingest.cli.serve_cmd import server_environment
from rag.errors import ConfigError

MCP_ENTRY = "api.mcp.stdio:main"


@app.command("mcp")
def mcp_command(ctx: typer.Context) -> None:
    """Serve the collections over MCP on stdin/stdout (tools: search, fetch, list_collections).

    Examples:

        rag --data-dir data mcp

        RAG_DATA_DIR=data RAG_DOC_MODEL=all-minilm-l6-v2 RAG_QUERY_MODEL=all-minilm-l6-v2 rag mcp
    """
    os.environ.update(server_environment(state(ctx).settings.model_dump()))
    module_name, _, function_name = MCP_ENTRY.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"rag mcp needs the api extra: pip install 'pplx-rag[api]' ({exc.name}).") from None
    getattr(module, function_name)()

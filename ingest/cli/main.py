"""Console script entry point: runs the Typer app and turns ``RagError`` into one line and an exit code."""

from __future__ import annotations

import sys

from ingest.cli.app import app
from rag.errors import RagError

# Command modules register themselves on ``app`` when imported.
COMMAND_MODULES: tuple[str, ...] = (
    "embed_cmd",
    "ingest_cmd",
    "search_cmd",
    "context_cmd",
    "collections_cmd",
    "serve_cmd",
    "mcp_cmd",
    "eval_cmd",
    "export_cmd",
)


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"ingest.cli.{name}")


def main() -> None:
    """Run ``rag``; user mistakes print ``error: ...`` and exit non-zero, never a traceback."""
    _register_commands()
    try:
        app()
    except RagError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)

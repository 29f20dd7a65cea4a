"""Driving the ``rag`` command line in-process (typer's CliRunner), as its console script does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from ingest.cli import main
from ingest.cli.app import app

main._register_commands()


def rag(data_dir: Path, model: str, *args: str) -> Result:
    """Run ``rag --data-dir DATA --doc-model MODEL --query-model MODEL ARGS...``."""
    options = ["--data-dir", str(data_dir), "--doc-model", model, "--query-model", model]
    return CliRunner().invoke(app, [*options, *args], catch_exceptions=False)


def json_out(result: Result) -> Any:
    return json.loads(result.stdout)

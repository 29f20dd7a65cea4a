"""Command-line edges (issue 15.18): an empty or blank query, a data folder that is a file, and a missing
path are one ``error:`` line or a named failure, never a traceback or an empty collection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.ingest.cli import json_out, rag

FAKE = "fake:64"


def rag_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real ``rag`` entry point (its error handling included) in its own process."""
    command = [sys.executable, "-c", "from ingest.cli.main import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_or_blank_query_is_an_error_line(tmp_path: Path, query: str) -> None:
    options = ["--data-dir", str(tmp_path / "data"), "--doc-model", FAKE, "--query-model", FAKE]
    done = rag_cli(*options, "search", query)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: the query is empty: give some words to search for."


def test_data_dir_that_is_a_file_is_an_error_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    done = rag_cli("--data-dir", str(tmp_path / "file"), "collections")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: the data folder") and "is not a folder" in done.stderr


def test_missing_path_creates_no_collection(tmp_path: Path) -> None:
    result = rag(tmp_path / "data", FAKE, "ingest", str(tmp_path / "nowhere"), "-c", "ghost")
    assert result.exit_code == 1 and "no such file or folder" in result.stderr
    assert json_out(rag(tmp_path / "data", FAKE, "collections", "--json")) == []

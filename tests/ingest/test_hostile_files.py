"""``rag ingest`` on a folder holding things that are not plain readable files: each is a named failure,
the run neither hangs nor crashes nor reads without bound, and the good files are ingested (issue 15.5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

FAKE = "fake:64"


def rag_cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """The real ``rag`` command in its own process, so a hang is a timeout here, not a stuck suite."""
    command = [sys.executable, "-c", "from ingest.cli.main import main; main()"]
    options = ["--data-dir", str(data_dir), "--doc-model", FAKE, "--query-model", FAKE]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run([*command, *options, *args], capture_output=True, env=environment, timeout=60)


def test_hostile_folder_gives_named_failures_and_ingests_the_rest(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("Green tea is steeped at eighty degrees.")
    (docs / "loop-a").symlink_to(docs / "loop-b")
    (docs / "loop-b").symlink_to(docs / "loop-a")
    (docs / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(docs / "pipe.txt")
    (docs / "big.txt").write_text("word " * 1000)
    (docs / "ids.jsonl").write_text('{"id": "ok", "text": "fine"}\n{"id": "bad\\udc80", "text": "x"}\n')
    with open(os.path.join(os.fsencode(docs), b"latin-\xe9.txt"), "wb") as file:
        file.write(b"text under a name that is not UTF-8")
    done = rag_cli(tmp_path / "data", "ingest", str(docs), "--json", RAG_MAX_FILE_BYTES="1000")
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr
    summary = json.loads(done.stdout)
    reasons = {Path(f["name"]).name: f["reason"] for f in summary["failures"]}
    assert reasons == {
        "loop-a": "Too many levels of symbolic links",
        "loop-b": "Too many levels of symbolic links",
        "zero.txt": "not a regular file (a character device); only regular files are read",
        "pipe.txt": "not a regular file (a FIFO); only regular files are read",
        "big.txt": "file too large (5000 bytes; the limit RAG_MAX_FILE_BYTES is 1000)",
        "ids.jsonl:2": '"_id"/"id" is not valid Unicode (it holds a lone surrogate escape)',
        "latin-\\xe9.txt": "the file name is not valid UTF-8 (rename the file)",
    }
    assert summary["added"] == 2  # good.md and the JSON Lines record "ok"
    again = rag_cli(tmp_path / "data", "ingest", str(docs), RAG_MAX_FILE_BYTES="1000")
    printed = again.stderr.decode("utf-8")  # readable text, whatever the file names' bytes
    assert again.returncode == 1 and "Traceback" not in printed
    for name, reason in reasons.items():
        assert f"{name}: {reason}" in printed


def test_a_fifo_named_on_the_command_line_is_a_failure_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    done = rag_cli(tmp_path / "data", "ingest", str(tmp_path / "pipe"))
    assert done.returncode == 1
    assert b"not a regular file (a FIFO)" in done.stderr and b"Traceback" not in done.stderr

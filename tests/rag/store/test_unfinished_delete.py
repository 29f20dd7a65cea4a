"""A delete killed between its rename and its removal leaves a ``.deleting-*`` folder; the next library
open removes it (issue 15.19)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ingest.pipeline import IngestOptions
from rag.embedding.fake import HashEmbedder
from rag.store import Library
from tests.conftest import REPO_ROOT

# A child that deletes the collection but is killed right after the rename (as a SIGKILL at that moment).
CHILD = """
import os, shutil, signal, sys
from rag.store import Library
shutil.rmtree = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
Library(sys.argv[1]).delete_collection("c")
"""


def test_next_open_removes_a_killed_deletes_folder(tmp_path: Path) -> None:
    library = Library(tmp_path)
    library.create_collection("c", fingerprint=IngestOptions().fingerprint(HashEmbedder(8).fingerprint))
    library.close()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env, timeout=60)
    assert child.returncode == -signal.SIGKILL
    root = tmp_path / "collections"
    assert [p.name.startswith(".deleting-c-") for p in root.iterdir()] == [True]
    reopened = Library(tmp_path)
    assert list(root.iterdir()) == [] and reopened.list_collections() == []
    reopened.close()

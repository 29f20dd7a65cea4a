"""A collection deleted, or deleted and created again, by another process (``rag delete`` / ``rag ingest``)
is noticed by every open handle: the running server answers 404 for it, then serves the new content and
accepts uploads into it (issue 15.3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.loaders import SourceDocument
from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.fake import HashEmbedder
from rag.errors import CollectionNotFoundError
from rag.store import Library
from tests.api.conftest import make_settings
from tests.conftest import REPO_ROOT

FAKE = "fake:64"


def rag_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``rag`` command line in its own process."""
    command = [sys.executable, "-c", "from ingest.cli.main import main; main()"]
    options = ["--data-dir", str(data_dir), "--doc-model", FAKE, "--query-model", FAKE]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([*command, *options, *args], capture_output=True, text=True, env=env, timeout=120)


def test_server_notices_delete_and_re_creation_by_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "tea.md").write_text("Green tea is steeped at eighty degrees.")
    (new / "coffee.md").write_text("Espresso is pressed at nine bars.")
    assert rag_cli(data, "ingest", str(old), "-c", "drinks").returncode == 0
    app = create_app(make_settings(data), embedder=HashEmbedder(64))
    with TestClient(app, raise_server_exceptions=False) as client:
        search = {"query": "tea", "collection": "drinks"}
        assert [h["document_id"] for h in client.post("/v1/search", json=search).json()["hits"]] == ["tea.md"]
        assert rag_cli(data, "delete", "--collection", "drinks").returncode == 0
        assert client.post("/v1/search", json=search).status_code == 404
        assert client.get("/v1/collections/drinks/documents/tea.md").status_code == 404
        assert rag_cli(data, "ingest", str(new), "-c", "drinks").returncode == 0
        hits = client.post("/v1/search", json=search).json()["hits"]
        assert [hit["document_id"] for hit in hits] == ["coffee.md"]
        added = client.post(
            "/v1/collections/drinks/documents", json={"documents": [{"id": "juice", "text": "Orange juice."}]}
        )
        assert added.status_code == 201, added.text
    library = Library(data)
    assert sorted(d.id for d in library.open_collection("drinks").list_documents()) == ["coffee.md", "juice"]
    library.close()


def test_every_open_handle_notices_another_library_deleting_and_re_creating(tmp_path: Path) -> None:
    embedder = HashEmbedder(16)
    mine, theirs = Library(tmp_path), Library(tmp_path)
    ingest = Ingestor(mine, embedder, IngestOptions())
    ingest.ingest([SourceDocument(id="a", text="alpha")], collection="c")
    handle = mine.open_collection("c")
    assert handle.info().documents == 1
    theirs.delete_collection("c")
    with pytest.raises(CollectionNotFoundError):
        handle.get_document("a")
    with pytest.raises(CollectionNotFoundError):
        mine.open_collection("c")
    Ingestor(theirs, embedder, IngestOptions()).ingest([SourceDocument(id="b", text="beta")], collection="c")
    fresh = mine.open_collection("c")
    assert fresh is not handle and [d.id for d in fresh.list_documents()] == ["b"]
    with pytest.raises(CollectionNotFoundError):
        handle.list_documents()  # the stale handle stays gone, never reads the old or the new database
    mine.close()
    theirs.close()

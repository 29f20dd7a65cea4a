"""Collections and documents through the API, in process: outcomes, uploads, jobs, reads and deletes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from rag.errors import SeparatorInChunkError
from rag.types import Embeddings
from tests.api.conftest import make_settings

URL = "/v1/collections/default/documents"


def _add(client: TestClient, *documents: dict[str, Any]) -> Any:
    return client.post(URL, json={"documents": list(documents)})


def test_outcome_per_document_added_skipped_updated_failed(client: TestClient) -> None:
    first = _add(client, {"id": "a", "text": "alpha text"}, {"id": "b", "text": "beta text"})
    assert first.status_code == 201
    assert [(o["id"], o["status"], o["chunks"]) for o in first.json()["outcomes"]] == [
        ("a", "added", 1),
        ("b", "added", 1),
    ]
    again = _add(
        client,
        {"id": "a", "text": "alpha text"},
        {"id": "b", "text": "beta text, changed"},
        {"id": "b", "text": "a second b"},
        {"id": "blank", "text": "   "},
    )
    assert again.status_code == 200
    statuses = [(o["id"], o["status"]) for o in again.json()["outcomes"]]
    assert statuses == [("a", "skipped"), ("b", "updated"), ("b", "failed"), ("blank", "failed")]
    report = again.json()
    assert (report["added"], report["updated"], report["skipped"], report["failed"]) == (0, 1, 1, 2)


def test_documents_without_an_id_get_one_from_their_text(client: TestClient) -> None:
    first = _add(client, {"text": "same words"}).json()["outcomes"][0]
    second = _add(client, {"text": "same words"}).json()["outcomes"][0]
    assert first["id"] == second["id"] and second["status"] == "skipped"


def test_file_uploads_use_the_loaders(client: TestClient) -> None:
    files: list[tuple[str, tuple[str, bytes] | tuple[str, bytes, str]]] = [
        ("files", ("guide.md", b"# Setup\n\nInstall the package, then run it.", "text/markdown")),
        ("files", ("notes.jsonl", b'{"id": "n1", "text": "first note"}\n{"id": "n2", "text": "second"}\n')),
        ("files", ("broken.pdf", b"%PDF-1.4 not really a pdf")),
    ]
    response = client.post(URL, files=files)
    assert response.status_code == 201, response.text
    outcomes = {o["id"]: o["status"] for o in response.json()["outcomes"]}
    assert outcomes == {"broken.pdf": "failed", "guide.md": "added", "n1": "added", "n2": "added"}
    stored = client.get(f"{URL}/guide.md").json()
    assert stored["title"] == "Setup" or stored["source"] == "guide.md"


def test_non_json_non_multipart_bodies_are_refused(client: TestClient) -> None:
    response = client.post(URL, content=b"text", headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    empty_upload = client.post(URL, data={"field": "value"}, files={})
    assert empty_upload.status_code == 422
    missing = client.post(URL, json={"documents": []})
    assert missing.status_code == 422


def test_more_documents_than_the_threshold_run_as_a_job(client: TestClient) -> None:
    documents = [{"id": f"d{i}", "text": f"document {i}"} for i in range(12)]
    accepted = client.post(URL, json={"documents": documents})
    assert accepted.status_code == 202
    url = accepted.json()["url"]
    deadline = time.monotonic() + 30
    while (job := client.get(url).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job["status"] == "succeeded" and job["done"] == job["total"] == 12
    assert job["result"]["added"] == 12 and job["finished_at"] >= job["started_at"] >= job["created_at"]
    assert client.get("/v1/jobs/unknown").status_code == 404


def test_read_list_and_delete_documents(client: TestClient) -> None:
    _add(
        client,
        {"id": "dir/a.md", "text": "one", "title": "A", "metadata": {"k": 1}},
        {"id": "b", "text": "two"},
    )
    document = client.get(f"{URL}/dir/a.md").json()
    assert (document["title"], document["metadata"], document["chunk_count"]) == ("A", {"k": 1}, 1)
    listed = client.get(URL, params={"limit": 1}).json()["documents"]
    assert len(listed) == 1 and "chunks" not in listed[0]
    assert client.delete(f"{URL}/dir/a.md").json() == {"deleted": "dir/a.md", "kind": "document"}
    assert client.get(f"{URL}/dir/a.md").status_code == 404
    assert client.delete(f"{URL}/dir/a.md").status_code == 404


def test_collections_lifecycle(client: TestClient) -> None:
    spec = {"name": "small", "keep_floats": True, "chunk_target_tokens": 32, "chunk_max_tokens": 48}
    created = client.post("/v1/collections", json=spec)
    assert created.status_code == 201
    assert created.json()["fingerprint"]["chunker"]["target_tokens"] == 32
    assert client.post("/v1/collections", json={"name": "small"}).status_code == 409
    text = " ".join(f"sentence {i} has several words in it." for i in range(40))
    added = client.post("/v1/collections/small/documents", json={"documents": [{"id": "long", "text": text}]})
    assert added.status_code == 201 and added.json()["outcomes"][0]["chunks"] > 1
    exact = client.post(
        "/v1/search", json={"query": "sentence 3", "collection": "small", "mode": "float-exact"}
    )
    assert exact.status_code == 200 and exact.json()["hits"]
    names = [c["name"] for c in client.get("/v1/collections").json()["collections"]]
    assert names == ["default", "small"]
    assert client.delete("/v1/collections/small").status_code == 200
    assert client.get("/v1/collections/small").status_code == 404
    assert (
        client.post("/v1/collections/small/documents", json={"documents": [{"text": "x"}]}).status_code == 404
    )


def test_invalid_collection_settings_are_refused(client: TestClient) -> None:
    bad = client.post(
        "/v1/collections", json={"name": "x", "chunk_target_tokens": 300, "chunk_max_tokens": 100}
    )
    assert bad.status_code == 422
    assert client.post("/v1/collections", json={"name": "-bad name"}).status_code == 422
    assert client.get("/v1/collections/..").status_code in (404, 422)


class _Refusing(HashEmbedder):
    """Refuses any document holding the word REFUSE, as the context model refuses its separator."""

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        if any("REFUSE" in chunk for chunks in documents for chunk in chunks):
            raise SeparatorInChunkError("a chunk holds the separator.")
        return super().embed_documents(documents, with_floats=with_floats)


def test_a_refused_document_fails_alone_even_as_an_update(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path), embedder=_Refusing(64))) as client:
        client.post("/v1/collections", json={"name": "default"})
        assert _add(client, {"id": "kept", "text": "first version"}).status_code == 201
        response = _add(client, {"id": "kept", "text": "REFUSE this"}, {"id": "fine", "text": "a fine one"})
        outcomes = {o["id"]: (o["status"], o["error"]) for o in response.json()["outcomes"]}
        assert outcomes == {"kept": ("failed", "a chunk holds the separator."), "fine": ("added", None)}
        assert client.get(f"{URL}/kept").json()["chunks"][0]["text"] == "first version"


def test_a_large_upload_runs_as_a_job(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.documents.BACKGROUND_UPLOAD_BYTES", 1000)
    small = client.post(URL, files={"files": ("small.txt", b"a few words")})
    assert small.status_code == 201
    large = client.post(URL, files={"files": ("large.txt", b"many words here. " * 100)})
    assert large.status_code == 202
    deadline = time.monotonic() + 30
    while (job := client.get(large.json()["url"]).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job["status"] == "succeeded" and job["result"]["outcomes"][0]["id"] == "large.txt"

"""The API over a damaged collection and over a collection deleted while a search uses it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from rag.store import queries
from rag.store.collection import DB_FILE
from rag.types import Hit

DOC = {"documents": [{"id": "tea", "text": "Green tea is steeped at eighty degrees."}]}


@pytest.fixture
def broken(client: TestClient, settings: Settings) -> TestClient:
    """``default`` healthy with one document; ``broken`` with its database overwritten by garbage."""
    assert client.post("/v1/collections/default/documents", json=DOC).status_code == 201
    assert client.post("/v1/collections", json={"name": "broken"}).status_code == 201
    library = client.app.state.rag.library  # type: ignore[attr-defined]
    library.close()  # as after a restart: the damage is found when the file is opened
    (settings.data_dir / "collections" / "broken" / DB_FILE).write_bytes(b"not a database" * 100)
    return client


def test_listing_answers_200_with_the_healthy_ones_and_the_corrupt_one_marked(broken: TestClient) -> None:
    response = broken.get("/v1/collections")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["collections"]}
    assert (rows["default"]["documents"], rows["default"]["chunks"]) == (1, 1)
    assert (rows["broken"]["documents"], rows["broken"]["chunks"]) == (-1, -1)
    assert "is corrupt" in rows["broken"]["error"] and rows["default"]["error"] is None


def test_the_corrupt_collection_answers_corrupt_store_and_the_others_still_work(broken: TestClient) -> None:
    for response in (
        broken.get("/v1/collections/broken"),
        broken.post("/v1/search", json={"query": "tea", "collection": "broken"}),
    ):
        body = response.json()
        assert (response.status_code, body["error_type"]) == (500, "corrupt_store")
        assert "'broken' is corrupt" in body["error"] and "other collections are unaffected" in body["error"]
    hits = broken.post("/v1/search", json={"query": "tea", "collection": "default"}).json()["hits"]
    assert [hit["document_id"] for hit in hits] == ["tea"]
    metrics = broken.get("/metrics")
    assert metrics.status_code == 200 and 'collection="default"' in metrics.text
    assert 'collection="broken"' not in metrics.text  # -1 counts are not data


def test_a_corrupt_collection_can_be_deleted_through_the_api(broken: TestClient) -> None:
    assert broken.delete("/v1/collections/broken").status_code == 200
    assert [row["name"] for row in broken.get("/v1/collections").json()["collections"]] == ["default"]


@pytest.mark.parametrize("mode", ["binary+int8", "bm25"])
def test_a_search_racing_a_delete_answers_404(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    assert client.post("/v1/collections/default/documents", json=DOC).status_code == 201
    library = client.app.state.rag.library  # type: ignore[attr-defined]
    real_hydrate = queries.hydrate

    def delete_then_hydrate(conn: Any, scored: list[tuple[int, float]]) -> list[Hit]:
        library.delete_collection("default")  # after the search took its handle, before it hydrates
        return real_hydrate(conn, scored)

    monkeypatch.setattr(queries, "hydrate", delete_then_hydrate)
    response = client.post("/v1/search", json={"query": "tea", "mode": mode})
    assert (response.status_code, response.json()["error_type"]) == (404, "not_found")

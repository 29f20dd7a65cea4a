"""Search through the API: modes, filters, timings, metrics and readiness."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from rag.settings import Settings
from tests.api.conftest import make_settings

DOCS: list[dict[str, Any]] = [
    {
        "id": "keys",
        "text": "Rotate the API keys every ninety days.",
        "metadata": {"lang": "en", "year": 2024},
    },
    {
        "id": "refunds",
        "text": "Refunds are paid within thirty days.",
        "metadata": {"lang": "en", "year": 2022},
    },
    {
        "id": "cles",
        "text": "Changer les cles API tous les trois mois.",
        "metadata": {"lang": "fr", "year": 2024},
    },
]


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    assert client.post("/v1/collections/default/documents", json={"documents": DOCS}).status_code == 201
    return client


@pytest.mark.parametrize("mode", ["binary", "binary+int8", "int8-exact", "bm25", "hybrid"])
def test_every_mode_finds_the_matching_document(loaded: TestClient, mode: str) -> None:
    response = loaded.post("/v1/search", json={"query": "rotate API keys", "mode": mode, "top_k": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == mode and body["model"] == "fake:64"
    assert body["hits"][0]["document_id"] == "keys"
    hit = body["hits"][0]
    assert hit["text"] == DOCS[0]["text"][hit["char_start"] : hit["char_end"]]


def test_filters_restrict_hits(loaded: TestClient) -> None:
    body = {"query": "API keys", "filter": {"lang": "en", "year": {"$gte": 2023}}}
    hits = loaded.post("/v1/search", json=body).json()["hits"]
    assert [hit["document_id"] for hit in hits] == ["keys"]
    bad = loaded.post("/v1/search", json={"query": "x", "filter": {"year": {"$regex": "."}}})
    assert bad.status_code == 422


def test_timings_and_server_timing_header_agree(loaded: TestClient) -> None:
    response = loaded.post("/v1/search", json={"query": "refunds"})
    timings = response.json()["timings"]
    assert {"embed", "hamming", "rescore", "hydrate", "total"} <= set(timings)
    header = dict(part.split(";dur=") for part in response.headers["server-timing"].split(", "))
    assert {stage: float(ms) for stage, ms in header.items()} == timings


def test_unknown_collection_is_404(loaded: TestClient) -> None:
    response = loaded.post("/v1/search", json={"query": "x", "collection": "missing"})
    assert (response.status_code, response.json()["error_type"]) == (404, "not_found")


def test_repeated_query_is_served_from_the_cache(loaded: TestClient) -> None:
    for _ in range(3):
        loaded.post("/v1/search", json={"query": "the very same query"})
    metrics = loaded.get("/metrics").text
    assert 'rag_query_cache_total{result="hit"} 2.0' in metrics
    assert 'rag_search_stage_seconds_count{stage="hamming"}' in metrics
    assert 'rag_collection_chunks{collection="default"} 3.0' in metrics


def test_not_ready_when_the_model_cannot_load(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"doc_model": "/no/such/model"}))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        deadline = time.monotonic() + 30
        while not client.app.state.rag.load_error and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()["error_type"]) == (503, "not_ready")
        assert ready.headers["retry-after"] == "1"
        assert client.post("/v1/search", json={"query": "x"}).status_code == 503


def test_a_collection_built_by_another_model_answers_409(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, embedder=HashEmbedder(64))) as client:
        client.post("/v1/collections", json={"name": "default"})
        client.post("/v1/collections/default/documents", json={"documents": [{"text": "some words"}]})
    with TestClient(create_app(settings, embedder=HashEmbedder(32))) as client:
        response = client.post("/v1/search", json={"query": "words"})
        assert (response.status_code, response.json()["error_type"]) == (409, "fingerprint_mismatch")
        added = client.post("/v1/collections/default/documents", json={"documents": [{"text": "more"}]})
        assert added.status_code == 409

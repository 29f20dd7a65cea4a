"""Search through the API: modes, filters, timings, metrics and readiness."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.schemas import SearchResponse
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


@pytest.mark.parametrize("mode", ["binary+int8", "bm25", "hybrid"])
def test_the_body_written_is_the_search_response_json(loaded: TestClient, mode: str) -> None:
    """The route writes its body from the core dataclasses (api.searching), not through the response
    model: it must be byte for byte what ``SearchResponse`` would write, field order, floats and nulls
    included, for text and metadata beyond ASCII too."""
    extra = {"id": "unicode", "text": "Clés API: «rotation» tous les 90 jours ✓",
             "metadata": {"tags": ["sécurité", None], "nested": {"ratio": 0.25, "ok": True}}}  # fmt: skip
    assert loaded.post("/v1/collections/default/documents", json={"documents": [extra]}).status_code == 201
    response = loaded.post("/v1/search", json={"query": "API rotation", "mode": mode, "top_k": 4})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    model = SearchResponse.model_validate_json(response.content)
    assert any(hit.document_id == "unicode" for hit in model.hits)
    assert response.content == model.model_dump_json().encode()


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


MANY = [{"id": f"n{i}", "text": f"note {i} about topic {i % 7} and item {i * 13 % 11}."} for i in range(150)]


def _candidates(client: TestClient, **body: Any) -> Any:
    response = client.post("/v1/search", json={"query": "topic 3 item 5", **body})
    assert response.status_code == 200, response.text
    return response.json()["candidates"]


def _many(tmp_path: Path, **overrides: Any) -> TestClient:
    """An app whose ``default`` collection holds MANY (150 chunks: more than the fixed pool's 100)."""
    settings = make_settings(tmp_path / "data", background_job_threshold=len(MANY), **overrides)
    return TestClient(create_app(settings, embedder=HashEmbedder(64)))


def _fill(client: TestClient) -> None:
    assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
    assert client.post("/v1/collections/default/documents", json={"documents": MANY}).status_code == 201


def test_the_rescore_depth_is_adaptive_unless_a_multiplier_is_given(tmp_path: Path) -> None:
    with _many(tmp_path) as client:
        _fill(client)
        # a multiplier is the fixed pool: max(top_k x m, 100) candidates, at most the 150 chunks
        assert _candidates(client, mode="binary+int8", rescore_multiplier=4) == 100
        assert _candidates(client, mode="binary+int8", rescore_multiplier=30) == 150
        assert _candidates(client, mode="binary+int8", top_k=2, rescore_multiplier=1) == 100
        adaptive = _candidates(client, mode="binary+int8")  # none: the depth the distances call for
        assert 10 <= adaptive <= 150
        assert _candidates(client, mode="binary+int8", top_k=3) == adaptive  # one pool up to top_k 10
        assert _candidates(client, mode="hybrid") == 100  # its dense list is its pool, 100 deep
        assert _candidates(client, mode="bm25") is None and _candidates(client, mode="int8-exact") is None
        bad = client.post("/v1/search", json={"query": "x", "rescore_multiplier": 0})
        assert bad.status_code == 422


def test_rag_rescore_multiplier_makes_the_server_default_fixed(tmp_path: Path) -> None:
    with _many(tmp_path, rescore_multiplier=4) as client:
        _fill(client)
        assert _candidates(client, mode="binary+int8") == 100
        assert _candidates(client, mode="binary+int8", rescore_multiplier=30) == 150

"""``POST /v1/context``: against the real uvicorn server (budget, merged spans, citations, keys), and
in-process for the request's edges."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ingest.encoding import token_counter
from tests.api.conftest import LiveServer

SENTENCES = [
    "Tea leaves are picked in spring.",
    "Green tea is steeped at eighty degrees.",
    "Black tea takes boiling water.",
    "Oolong sits between green and black.",
    "Matcha is ground green tea powder.",
    "Coffee beans are roasted seeds.",
    "Espresso is brewed under pressure.",
    "Refunds are paid within thirty days.",
    "Rotate API keys every ninety days.",
    "Old keys expire a day later.",
]
DOCS: list[dict[str, Any]] = [
    {"id": "drinks", "title": "Drinks", "source": "guide/drinks.md", "text": "\n\n".join(SENTENCES)},
    {"id": "office", "title": "Office", "text": " ".join(reversed(SENTENCES))},
    {"id": "short", "text": "Tea and keys."},
]
TEXTS = {doc["id"]: doc["text"] for doc in DOCS}
COUNT = token_counter("cl100k_base")


@pytest.fixture(scope="module")
def small_chunks(live_server: LiveServer) -> str:
    """A collection of the live server whose documents have many small chunks."""
    with live_server.client("admin") as admin:
        body = {"name": "context", "chunk_target_tokens": 16, "chunk_max_tokens": 16}
        assert admin.post("/v1/collections", json=body).status_code == 201
        added = admin.post("/v1/collections/context/documents", json={"documents": DOCS})
        assert added.status_code == 201, added.text
    return "context"


def _chunks(client: httpx.Client, doc_id: str) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = client.get(f"/v1/collections/context/documents/{doc_id}").json()["chunks"]
    return chunks


def _check_citations(client: httpx.Client, body: dict[str, Any], neighbors: int) -> None:
    hits = {h["chunk_id"]: h for h in client.post("/v1/search", json=_search(body)).json()["hits"]}
    covered: dict[str, set[int]] = {}
    for number, citation in enumerate(body["citations"], start=1):
        doc_id = citation["document_id"]
        span = TEXTS[doc_id][citation["char_start"] : citation["char_end"]]
        inside = [
            c
            for c in _chunks(client, doc_id)
            if citation["char_start"] <= c["char_start"] < citation["char_end"]
        ]
        assert len(inside) == len(citation["chunk_ids"]) and all(c["text"] in span for c in inside)
        assert span.startswith(inside[0]["text"]) and span.endswith(inside[-1]["text"])
        assert citation["chunk_ids"] == sorted(citation["chunk_ids"])  # ids follow ordinals within a document
        cited_hits = [hits[i] for i in citation["chunk_ids"] if i in hits]
        assert cited_hits, "every passage holds a hit"
        for hit in cited_hits:  # the hit sits at its chunk_index within the passage
            assert inside[citation["chunk_ids"].index(hit["chunk_id"])]["ordinal"] == hit["chunk_index"]
        assert len(inside) <= len(cited_hits) * (2 * neighbors + 1)
        assert citation["index"] == number and f"[{number}] " in body["context"]
        chars = set(range(citation["char_start"], citation["char_end"]))
        assert not chars & covered.get(doc_id, set()), "a character is in two passages"
        covered.setdefault(doc_id, set()).update(chars)


def _search(body: dict[str, Any]) -> dict[str, Any]:
    return {"query": "green tea keys", "collection": "context", "top_k": 4}


def test_context_through_a_live_server_keeps_budgets_and_cites_exact_spans(
    live_server: LiveServer, small_chunks: str
) -> None:
    with live_server.client("admin") as client:
        for neighbors in (0, 1, 2):
            for budget in (1, 12, 40, 90, 2000):
                request = {"query": "green tea keys", "collection": small_chunks, "top_k": 4}
                answer = client.post(
                    "/v1/context", json={**request, "max_tokens": budget, "neighbors": neighbors}
                )
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert set(body) == {"context", "citations", "tokens", "model"}
                assert body["tokens"] == COUNT(body["context"]) <= budget
                assert body["model"] == "fake:64"
                _check_citations(client, body, neighbors)
        ample = client.post("/v1/context", json={**request, "max_tokens": 2000}).json()
        assert len(ample["citations"]) >= 2 and ample["context"].startswith("[1] ")
        assert "(guide/drinks.md" in ample["context"] or "[1] Office" in ample["context"]


def test_hits_carry_chunk_index_and_tokens_through_a_live_server(
    live_server: LiveServer, small_chunks: str
) -> None:
    with live_server.client("admin") as client:
        hits = client.post("/v1/search", json={"query": "espresso", "collection": small_chunks}).json()[
            "hits"
        ]
        assert hits
        for hit in hits:
            chunk = _chunks(client, hit["document_id"])[hit["chunk_index"]]
            assert (chunk["text"], chunk["token_count"]) == (hit["text"], hit["tokens"])


@pytest.mark.parametrize(
    ("role", "collection", "status"),
    [("reader", "default", 200), ("reader", "other", 403), ("other", "default", 403), (None, "default", 401)],
)
def test_a_key_reads_context_only_from_its_collections(
    live_server: LiveServer, role: str | None, collection: str, status: int
) -> None:
    with live_server.client(role) as client:
        answer = client.post("/v1/context", json={"query": "tea", "collection": collection})
    assert answer.status_code == status, answer.text
    if status != 200:
        assert answer.json()["error_type"] in {"forbidden", "unauthorized"}


def test_unknown_encodings_and_out_of_range_fields_are_422(client: TestClient) -> None:
    for body in (
        {"query": "tea", "encoding": "no_such_encoding"},
        {"query": "tea", "max_tokens": 0},
        {"query": "tea", "neighbors": -1},
        {"query": "tea", "neighbors": 21},
        {"query": "tea", "rescore": 2},
    ):
        answer = client.post("/v1/context", json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error_type"] == "validation_error"
    assert (
        "no_such_encoding"
        in client.post("/v1/context", json={"query": "t", "encoding": "no_such_encoding"}).text
    )


def test_context_in_every_mode_and_another_encoding(client: TestClient) -> None:
    added = client.post("/v1/collections/default/documents", json={"documents": DOCS})
    assert added.status_code == 201
    o200k = token_counter("o200k_base")
    for mode in ("binary", "binary+int8", "int8-exact", "bm25", "hybrid"):
        body = {"query": "green tea", "mode": mode, "max_tokens": 60, "encoding": "o200k_base"}
        answer = client.post("/v1/context", json=body).json()
        assert answer["tokens"] == o200k(answer["context"]) <= 60 and answer["citations"], mode
    missing = client.post("/v1/context", json={"query": "tea", "collection": "nothing"})
    assert missing.status_code == 404
    empty = client.post("/v1/context", json={"query": "tea", "max_tokens": 1}).json()
    assert (empty["context"], empty["citations"], empty["tokens"]) == ("", [], 0)

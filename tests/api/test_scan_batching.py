"""Concurrent /v1/search requests share Hamming scans (a real uvicorn server) and answer as if alone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import LiveServer, start_server, stop_server

WORDS = "invoice refund travel policy badge laptop vacation payroll audit backup deploy rotate key".split()
ROUNDS, CLIENTS = 16, 24  # a round shares no scan now and then (timing): 16 make that vanishingly rare
QUERIES = [
    f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i + 1) % len(WORDS)]} question {i}" for i in range(ROUNDS * CLIENTS)
]


SETTINGS = {
    "RAG_BACKGROUND_JOB_THRESHOLD": "1000",
    # one model call embeds the concurrent queries, so their searches start together
    "RAG_BATCH_WAIT_MS": "50",
    # ~10k chunks of 1024 bits: a scan long enough (~0.3 ms) for the searches to meet in it
    "RAG_DOC_MODEL": "fake:1024",
    "RAG_QUERY_MODEL": "fake:1024",
    "RAG_CHUNK_TARGET_TOKENS": "16",
    "RAG_CHUNK_MAX_TOKENS": "16",
    # one scan at a time: at ~0.3 ms a scan, a second slot would take each arrival alone
    "RAG_PARALLEL_SCANS": "1",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("scan-batching"), **SETTINGS)
    try:
        with live.client(None) as client:
            assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
            for first in range(0, 200, 20):
                documents = [
                    {
                        "id": f"doc-{i}",
                        "text": " ".join(WORDS[(i * j + j // 7) % len(WORDS)] for j in range(700)),
                        "metadata": {"group": i % 3},
                    }
                    for i in range(first, first + 20)
                ]
                added = client.post("/v1/collections/default/documents", json={"documents": documents})
                assert added.status_code == 201, added.text
            assert client.get("/v1/collections/default").json()["chunks"] > 5000
        yield live
    finally:
        stop_server(live)


def _scan_counters(client: httpx.Client) -> tuple[float, float]:
    text = client.get("/metrics").text
    found = dict(re.findall(r"^rag_scan_(batches|queries)_total (\S+)$", text, flags=re.MULTILINE))
    return float(found["batches"]), float(found["queries"])


def _body(i: int) -> dict[str, Any]:
    body: dict[str, Any] = {"query": QUERIES[i], "top_k": 3 + i % 5, "mode": ("binary+int8", "binary")[i % 2]}
    if i % 4 == 3:
        body["filter"] = {"group": i % 3}
    return body


def _answer(response: httpx.Response) -> list[tuple[int, float]]:
    assert response.status_code == 200, response.text
    return [(hit["chunk_id"], round(hit["score"], 5)) for hit in response.json()["hits"]]


async def _concurrently(url: str) -> list[list[tuple[int, float]]]:
    """Each round: CLIENTS new queries at once (never cached, so the model batcher embeds them together)."""
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as client:
        answers = []
        for start in range(0, ROUNDS * CLIENTS, CLIENTS):
            bodies = [_body(i) for i in range(start, start + CLIENTS)]
            responses = await asyncio.gather(*(client.post("/v1/search", json=b) for b in bodies))
            answers += [_answer(r) for r in responses]
        return answers


def test_concurrent_searches_share_scans_and_equal_the_sequential_answers(server: LiveServer) -> None:
    with server.client(None) as client:
        batches, queries = _scan_counters(client)
        # new queries first: the batcher embeds them in one call, so their searches run at once
        together = asyncio.run(_concurrently(server.url))
        after_batches, after_queries = _scan_counters(client)
        alone = [_answer(client.post("/v1/search", json=_body(i))) for i in range(len(QUERIES))]
    assert all(alone) and len({tuple(a) for a in alone}) > 1
    assert together == alone
    scanned, ran = after_queries - queries, after_batches - batches
    assert scanned >= len(QUERIES) // 2  # the unfiltered (and wide-filter) searches went through the scan
    assert ran < scanned, f"{scanned} queries in {ran} scans: no scan was shared"


def test_with_a_batch_limit_of_one_no_scan_is_shared_and_the_answers_stay(server: LiveServer) -> None:
    data_dir = server.log.parent
    alone = start_server(data_dir, **SETTINGS, RAG_MAX_SCAN_BATCH="1")  # a second server, same data
    try:
        with alone.client(None) as client:
            batches, queries = _scan_counters(client)
            together = asyncio.run(_concurrently(alone.url))
            after_batches, after_queries = _scan_counters(client)
        with server.client(None) as client:
            expected = [_answer(client.post("/v1/search", json=_body(i))) for i in range(len(QUERIES))]
    finally:
        stop_server(alone)
    assert together == expected
    scanned = after_queries - queries
    assert scanned >= len(QUERIES) // 2 and after_batches - batches == scanned  # one query per scan

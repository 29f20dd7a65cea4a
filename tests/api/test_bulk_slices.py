"""Bulk embedding work yields to queries (the search-under-bulk benchmark, issue 15.7): bulk requests are
embedded in slices of whole documents (or texts) of about ``SLICE_TOKENS``, and each slice waits while a
search is in flight, at most ``MAX_DEFER_S``, so it never starves."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.priority import QueryPriority, slices
from rag.embedding.fake import HashEmbedder
from rag.types import Embeddings
from tests.api.conftest import make_settings


class RecordingEmbedder(HashEmbedder):
    """Records each bulk call's size and when it started."""

    def __init__(self) -> None:
        super().__init__(64)
        self.document_calls: list[tuple[int, float]] = []
        self.query_calls: list[int] = []

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        self.document_calls.append((len(documents), time.monotonic()))
        return super().embed_documents(documents, with_floats=with_floats)

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        self.query_calls.append(len(texts))
        return super().embed_queries(texts, with_floats=with_floats)


def test_slices_hold_whole_inputs_up_to_the_budget() -> None:
    assert slices([400, 400, 400, 2000, 10], budget=1000) == [range(2), range(2, 3), range(3, 4), range(4, 5)]
    assert slices([], budget=1000) == []
    assert slices([5000], budget=1000) == [range(1)]


def test_a_slice_waits_for_the_queries_in_flight_but_not_forever() -> None:
    priority = QueryPriority(max_defer_s=5.0)
    ran: list[float] = []

    def bulk_slice() -> None:
        priority.before_slice()
        ran.append(time.monotonic())

    with priority.query():
        worker = threading.Thread(target=bulk_slice)
        worker.start()
        time.sleep(0.3)
        assert ran == []  # waiting while the query is in flight
        released = time.monotonic()
    worker.join(5)
    assert ran and ran[0] >= released
    bounded = QueryPriority(max_defer_s=0.2)
    with bounded.query():
        started = time.monotonic()
        bounded.before_slice()  # a query that never ends delays a slice by max_defer_s only
        assert 0.15 <= time.monotonic() - started < 2.0


def test_bulk_requests_are_embedded_in_slices_with_every_row_in_order(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    with TestClient(create_app(make_settings(tmp_path / "data"), embedder=embedder)) as client:
        document = [" ".join(["word"] * 300)] * 3  # ~900 tokens each: one document per slice
        body = {"input": [document] * 4, "model": "fake:64"}
        answer = client.post("/v1/contextualizedembeddings", json=body)
        assert answer.status_code == 200, answer.text
        assert [size for size, _ in embedder.document_calls] == [1, 1, 1, 1]
        assert len(answer.json()["data"]) == 4
        whole = client.post("/v1/contextualizedembeddings", json={"input": [document], "model": "fake:64"})
        assert answer.json()["data"][3] == {**whole.json()["data"][0], "index": 3}
        texts = {"input": [" ".join(["word"] * 600)] * 3, "model": "fake:64"}
        assert client.post("/v1/embeddings", json=texts).status_code == 200
        assert embedder.query_calls[-3:] == [1, 1, 1]


def test_upload_jobs_embed_in_slices_and_write_everything(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    with TestClient(create_app(make_settings(tmp_path / "data"), embedder=embedder)) as client:
        assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
        text = " ".join(f"word{i}" for i in range(700))  # ~700 tokens: one document per slice
        documents = [{"id": f"d{i}", "text": f"{text} {i}"} for i in range(12)]
        accepted = client.post("/v1/collections/default/documents", json={"documents": documents})
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 60
        while (job := client.get(accepted.json()["url"]).json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert client.get("/v1/collections/default").json()["documents"] == 12
        assert embedder.document_calls and max(size for size, _ in embedder.document_calls) <= 2

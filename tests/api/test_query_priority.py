"""A search does not wait behind a long bulk embedding request: query embeddings have their own model
thread (issue 15.7). The bulk model here is the fake embedder slowed down, standing in for a 112k-token
``/v1/contextualizedembeddings`` call; what is tested is the scheduling, not the embedding."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from rag.types import Embeddings
from tests.api.conftest import make_settings

BULK_SECONDS = 3.0


class SlowDocuments(HashEmbedder):
    """Embeds documents after ``BULK_SECONDS`` of work; queries as fast as ever."""

    def __init__(self) -> None:
        super().__init__(64)
        self.bulk_started = threading.Event()

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        self.bulk_started.set()
        time.sleep(BULK_SECONDS)
        return super().embed_documents(documents, with_floats=with_floats)


def test_search_answers_while_a_bulk_embedding_request_runs(tmp_path: Path) -> None:
    embedder = SlowDocuments()
    with TestClient(create_app(make_settings(tmp_path / "data"), embedder=embedder)) as client:
        assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
        bulk_status: list[int] = []
        body = {"input": [["a chunk", "another chunk"]], "model": "fake:64"}
        bulk = threading.Thread(
            target=lambda: bulk_status.append(
                client.post("/v1/contextualizedembeddings", json=body).status_code
            )
        )
        bulk.start()
        assert embedder.bulk_started.wait(10)
        started = time.monotonic()
        search = client.post("/v1/search", json={"query": "a new query", "top_k": 3})
        waited = time.monotonic() - started
        assert search.status_code == 200
        assert waited < BULK_SECONDS / 2, f"the search waited {waited:.2f} s behind the bulk request"
        bulk.join()
        assert bulk_status == [200]

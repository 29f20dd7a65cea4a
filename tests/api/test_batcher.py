"""The query batcher: concurrent queries share model calls; repeats come from the cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.batcher import QueryBatcher, QueryCache
from rag.embedding.fake import HashEmbedder
from rag.errors import BusyError, EmbeddingError
from rag.types import Embeddings
from tests.api.conftest import make_settings


class CountingEmbedder(HashEmbedder):
    """The fake embedder, slowed to a model's pace, counting its query calls and batch sizes."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__(64)
        self.delay = delay
        self.calls: list[int] = []
        self.threads: set[str] = set()

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        self.calls.append(len(texts))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return super().embed_queries(texts, with_floats=with_floats)


def _batcher(embedder: CountingEmbedder, executor: ThreadPoolExecutor, **options: float) -> QueryBatcher:
    settings = {"max_batch": 8, "wait_ms": 5.0, "cache_size": 16} | options
    return QueryBatcher(
        embedder.embed_queries,
        executor=executor,
        max_batch=int(settings["max_batch"]),
        wait_ms=settings["wait_ms"],
        cache_size=int(settings["cache_size"]),
    )


def test_concurrent_queries_are_embedded_in_few_calls_with_their_own_rows() -> None:
    embedder = CountingEmbedder()
    with ThreadPoolExecutor(1, thread_name_prefix="model") as executor:
        batcher = _batcher(embedder, executor)

        async def run() -> list[Embeddings]:
            return await asyncio.gather(*(batcher.embed(f"query {i}") for i in range(20)))

        rows = asyncio.run(run())
    assert len(embedder.calls) < 20 and sum(embedder.calls) == 20
    assert max(embedder.calls) <= 8
    assert embedder.threads == {"model_0"}
    for i, row in enumerate(rows):
        expected = HashEmbedder(64).embed_queries([f"query {i}"])
        assert (row.int8 == expected.int8).all() and (row.bits == expected.bits).all()


def test_repeated_queries_hit_the_cache_and_duplicates_share_a_row() -> None:
    embedder = CountingEmbedder(delay=0.0)
    with ThreadPoolExecutor(1) as executor:
        batcher = _batcher(embedder, executor)

        async def run() -> None:
            await asyncio.gather(batcher.embed("same"), batcher.embed("same"))
            await batcher.embed("same")

        asyncio.run(run())
    assert embedder.calls == [1]


def test_cache_evicts_the_least_recently_used() -> None:
    cache = QueryCache(2)
    row = HashEmbedder(8).embed_queries(["x"])
    cache.put("a", row)
    cache.put("b", row)
    assert cache.get("a") is row
    cache.put("c", row)
    assert cache.get("b") is None and cache.get("a") is row and len(cache) == 2
    disabled = QueryCache(0)
    disabled.put("a", row)
    assert disabled.get("a") is None


def test_a_model_error_reaches_every_caller_and_the_batcher_goes_on() -> None:
    failures = iter([True, False])

    def flaky(texts: Sequence[str]) -> Embeddings:
        if next(failures):
            raise EmbeddingError("the model failed.")
        return HashEmbedder(64).embed_queries(texts)

    with ThreadPoolExecutor(1) as executor:
        batcher = QueryBatcher(flaky, executor=executor, max_batch=8, wait_ms=5, cache_size=0)

        async def run() -> None:
            results = await asyncio.gather(batcher.embed("a"), batcher.embed("b"), return_exceptions=True)
            assert all(isinstance(r, EmbeddingError) for r in results)
            assert len(await batcher.embed("c")) == 1

        asyncio.run(run())


def test_too_many_waiting_queries_are_refused() -> None:
    with ThreadPoolExecutor(1) as executor:
        batcher = QueryBatcher(
            CountingEmbedder(0.05).embed_queries, executor=executor, max_batch=1, wait_ms=0, cache_size=0,
            max_pending=2,
        )  # fmt: skip

        async def run() -> list[object]:
            return await asyncio.gather(*(batcher.embed(str(i)) for i in range(6)), return_exceptions=True)

        results = asyncio.run(run())
    assert any(isinstance(r, BusyError) for r in results)
    assert any(isinstance(r, Embeddings) for r in results)


def test_concurrent_searches_through_the_app_share_embed_calls(tmp_path: Path) -> None:
    embedder = CountingEmbedder(delay=0.05)
    app = create_app(make_settings(tmp_path, batch_wait_ms=10.0), embedder=embedder)

    async def run() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (await client.post("/v1/collections", json={"name": "default"})).status_code == 201
                docs = {"documents": [{"id": "a", "text": "alpha beta"}, {"id": "b", "text": "gamma delta"}]}
                assert (await client.post("/v1/collections/default/documents", json=docs)).status_code == 201
                searches = [client.post("/v1/search", json={"query": f"alpha {i}"}) for i in range(16)]
                return await asyncio.gather(*searches)

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 16
    assert sum(embedder.calls) == 16
    assert len(embedder.calls) < 16


@pytest.mark.parametrize("max_batch", [0, -1])
def test_batch_size_must_be_positive(max_batch: int) -> None:
    with ThreadPoolExecutor(1) as executor, pytest.raises(ValueError):
        QueryBatcher(
            HashEmbedder(8).embed_queries, executor=executor, max_batch=max_batch, wait_ms=1, cache_size=1
        )

"""A dynamic batcher for query embeddings, with an LRU cache in front.

Embedding one query costs one forward pass of the model (hundreds of ms for a 0.6B model on CPU), and
a forward over 8 queries costs little more than over one. Concurrent requests therefore queue their
query text here; one worker takes what is waiting (up to ``max_batch``, waiting at most ``wait_ms`` for
more after the first), embeds it in one call on the model's thread, and hands each caller its row. While
a batch runs, the next one gathers, so throughput grows with concurrency. Repeated queries are answered
from the cache without touching the model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from rag.errors import BusyError, NotReadyError
from rag.types import Embeddings

EmbedFn = Callable[[Sequence[str]], Embeddings]
_Item = tuple[str, "asyncio.Future[Embeddings]"]


class QueryCache:
    """The last ``size`` query embeddings (one row each), least recently used evicted first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rows: OrderedDict[str, Embeddings] = OrderedDict()

    def get(self, text: str) -> Embeddings | None:
        row = self._rows.get(text)
        if row is not None:
            self._rows.move_to_end(text)
        return row

    def put(self, text: str, row: Embeddings) -> None:
        if self.size <= 0:
            return
        self._rows[text] = row
        self._rows.move_to_end(text)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)


class QueryBatcher:
    """``await embed(text)`` returns that text's query embedding (1 row), batched with its neighbours.

    ``embed_fn`` runs on ``executor`` (the model's thread), never on the event loop. ``on_batch`` is told
    each batch's size and ``on_cache`` each cache lookup (hit or not), for metrics.
    """

    def __init__(
        self,
        embed_fn: EmbedFn,
        *,
        executor: Executor,
        max_batch: int,
        wait_ms: float,
        cache_size: int,
        max_pending: int = 4096,
        on_batch: Callable[[int], None] | None = None,
        on_cache: Callable[[bool], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}.")
        self.embed_fn = embed_fn
        self.executor = executor
        self.max_batch = max_batch
        self.wait_s = max(wait_ms, 0.0) / 1000.0
        self.max_pending = max_pending
        self.cache = QueryCache(cache_size)
        self.on_batch = on_batch
        self.on_cache = on_cache
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    async def embed(self, text: str) -> Embeddings:
        cached = self.cache.get(text)
        if self.on_cache is not None:
            self.on_cache(cached is not None)
        if cached is not None:
            return cached
        queue = self._ensure_worker()
        if queue.qsize() >= self.max_pending:
            raise BusyError(f"{queue.qsize()} queries are waiting for the model; retry shortly.")
        future: asyncio.Future[Embeddings] = asyncio.get_running_loop().create_future()
        queue.put_nowait((text, future))
        return await future

    def _ensure_worker(self) -> asyncio.Queue[_Item]:
        if self._closed:
            raise NotReadyError("the query batcher is shut down.")
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run(self._queue))
        return self._queue

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            batch = await self._gather(queue)
            await self._embed_batch(batch)

    async def _gather(self, queue: asyncio.Queue[_Item]) -> list[_Item]:
        """The first waiting query, then whatever joins within ``wait_s``, up to ``max_batch``."""
        batch = [await queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while len(batch) < self.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _embed_batch(self, batch: list[_Item]) -> None:
        live = [(text, future) for text, future in batch if not future.done()]
        if not live:
            return
        texts = list(dict.fromkeys(text for text, _ in live))
        if self.on_batch is not None:
            self.on_batch(len(texts))
        loop = asyncio.get_running_loop()
        try:
            embeddings = await loop.run_in_executor(self.executor, self.embed_fn, texts)
        except Exception as exc:  # the callers see the model's error, the worker lives on
            _fail(live, exc)
            return
        except asyncio.CancelledError:
            _fail(live, NotReadyError("the service is shutting down."))
            raise
        rows = {text: embeddings.rows(i, i + 1) for i, text in enumerate(texts)}
        for text, row in rows.items():
            self.cache.put(text, row)
        for text, future in live:
            if not future.done():
                future.set_result(rows[text])

    async def close(self) -> None:
        """Stop the worker; queries still waiting fail with ``NotReadyError``."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while self._queue is not None and not self._queue.empty():
            _fail([self._queue.get_nowait()], NotReadyError("the service is shutting down."))


def _fail(items: Sequence[_Item], error: BaseException) -> None:
    for _, future in items:
        if not future.done():
            future.set_exception(error)

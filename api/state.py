"""What one app holds while it runs: settings, keys, metrics, the model, the batcher, the library.

The model loads on its own thread when the app starts, so ``/healthz`` answers at once and
``/readyz`` says 503 until it is loaded. Query embeddings (the batcher's) run on that one thread, off the
event loop; the hosted-API endpoints' bulk work on a second one, and ingestion jobs on the jobs thread, so
no bulk work ever holds a query back in a queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from api.auth import KeyRing, check_bind, load_keyring
from api.batcher import QueryBatcher
from api.ingesting import DocumentBatch, ingest_batch, job_embedder
from api.jobs import JobManager, ResultCodec
from api.jobstore import JobStore
from api.metrics import Metrics
from api.priority import QueryPriority
from api.schemas import IngestReport
from api.served_models import ModelCatalog, build_catalog
from rag.embedding.base import ApiUsage, Embedder
from rag.errors import NotReadyError, RagError
from rag.scan_batcher import ScanPolicy, ScanStats
from rag.search import Searcher
from rag.settings import Settings
from rag.store import Collection, Library
from rag.types import CollectionInfo

logger = logging.getLogger("api")

JOBS_FILE = "jobs.db"
# Threads that run searches (anyio's default pool size, which searches used before): concurrent searches
# wait in a batched scan on these, so a batch is never larger than the threads (RAG_MAX_SCAN_BATCH past it
# raises the count).
SEARCH_THREADS = 40


def warm_indexes(library: Library, stop: threading.Event | None = None) -> None:
    """Build (or catch up) every collection's in-memory index, so no user's first query pays for it;
    ``stop`` set: no further collection is started (shutdown)."""
    try:
        for info in library.list_collections():
            if stop is not None and stop.is_set():
                return
            if info.error is None:
                library.open_collection(info.name).load_index()
    except RagError as exc:  # warming is an optimisation: a query builds what is missing
        logger.warning("warming the indexes stopped: %s", exc.message)


def _load_embedder(settings: Settings) -> Embedder:
    from rag.embedding.factory import load_embedder_from_settings

    return load_embedder_from_settings(settings)


class AppState:
    """The running service's parts. Built by ``create_app``; started and closed by its lifespan."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.keyring: KeyRing = load_keyring(settings)
        self.auth_note = check_bind(settings, self.keyring)
        self.models: ModelCatalog = build_catalog(settings, embedder)  # names and aliases, known at start
        self.metrics = Metrics()
        self.model_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        # Bulk embedding requests (/v1/embeddings, /v1/contextualizedembeddings) run on their own thread, so
        # a search's query embedding never queues behind a long one; the two share the CPU instead.
        self.bulk_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-model")
        # Searches run here, not on anyio's shared pool: its hop cost twice this one's event-loop time
        # (~0.1 ms a search, measured), and a long upload's thread work cannot hold a search's thread.
        self.search_executor = ThreadPoolExecutor(
            max_workers=max(SEARCH_THREADS, settings.max_scan_batch), thread_name_prefix="search"
        )
        self.priority = QueryPriority()  # bulk slices wait for the searches in flight (api/priority.py)
        # warming runs in the background; closing the library under it would free what it reads (a crash)
        self._stop_warming = threading.Event()
        self._warming: asyncio.Future[None] | None = None
        self.jobs: JobManager[IngestReport] = JobManager(
            store=JobStore(settings.data_dir / JOBS_FILE),
            codec=ResultCodec(lambda report: report.model_dump_json(), IngestReport.model_validate_json),
        )
        self.library: Library | None = None
        self.embedder: Embedder | None = None
        self.batcher: QueryBatcher | None = None
        self.load_error: str | None = None
        self._given_embedder = embedder
        self._searchers: dict[str, Searcher] = {}
        self._searchers_lock = threading.Lock()
        self.metrics.watch_collections(self.collection_infos)
        self.metrics.watch_api_usage(lambda: self.embedder.api_usage if self.embedder else ApiUsage())
        self.metrics.watch_scans(lambda: self.library.scan_stats() if self.library else ScanStats())

    # Lifecycle

    async def start(self) -> None:
        """Open the library, then load the model in the background (``/readyz`` waits for both)."""
        logger.info("%s", self.auth_note)
        scans = ScanPolicy(self.settings.max_scan_batch, self.settings.parallel_scans)
        self.library = Library(self.settings.data_dir, scans=scans)
        loop = asyncio.get_running_loop()
        self._warming = loop.run_in_executor(None, warm_indexes, self.library, self._stop_warming)
        if self._given_embedder is not None:
            self._set_embedder(self._given_embedder)
            return
        loop.run_in_executor(self.model_executor, self._load_model)

    def _load_model(self) -> None:
        try:
            embedder = _load_embedder(self.settings)
        except RagError as exc:
            self.load_error = exc.message
            logger.error("the model failed to load: %s", exc.message)
            return
        except Exception as exc:
            self.load_error = f"{type(exc).__name__} while loading the model"
            logger.exception("the model failed to load")
            return
        self._set_embedder(embedder)

    def _set_embedder(self, embedder: Embedder) -> None:
        self.batcher = QueryBatcher(
            partial(embedder.embed_queries, with_floats=True),  # floats too, for float-exact
            executor=self.model_executor,
            max_batch=self.settings.batch_max_queries,
            wait_ms=self.settings.batch_wait_ms,
            cache_size=self.settings.query_cache_size,
            on_batch=self.metrics.embed_batch_size.observe,
            on_cache=lambda hit: self.metrics.query_cache.labels("hit" if hit else "miss").inc(),
        )
        self.embedder = embedder
        logger.info("model ready: %s (d=%d)", embedder.model_name, embedder.dimensions)
        resumed = self.jobs.resume(self._resumed_work)  # jobs a kill or a restart left unfinished
        if resumed:
            logger.info("resumed %d background jobs", resumed)

    def _resumed_work(self, name: str, payload: bytes) -> Callable[[Callable[[int], None]], IngestReport]:
        """A recorded job's work again, from its saved input (ingestion skips what is already written)."""
        batch = DocumentBatch.from_payload(payload)

        def work(progress: Callable[[int], None]) -> IngestReport:
            library, stage = (
                self.ready_library(),
                job_embedder(self.settings, self.ready_embedder(), self.priority),
            )
            return ingest_batch(library, self.settings, stage, self.collection(name), batch, progress)

        return work

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        await asyncio.to_thread(self.jobs.shutdown)
        self._stop_warming.set()
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)  # the collection being warmed
        # searches in flight finish before the library (and the mmaps they read) closes
        await asyncio.to_thread(self.search_executor.shutdown, cancel_futures=True)
        if self.library is not None:
            self.library.close()
        self.model_executor.shutdown(wait=False, cancel_futures=True)
        self.bulk_executor.shutdown(wait=False, cancel_futures=True)

    # Readiness

    def ready_embedder(self) -> Embedder:
        if self.embedder is None:
            detail = f" ({self.load_error})" if self.load_error else " yet"
            raise NotReadyError(f"the model is not loaded{detail}.")
        return self.embedder

    def ready_batcher(self) -> QueryBatcher:
        self.ready_embedder()
        assert self.batcher is not None
        return self.batcher

    def ready_library(self) -> Library:
        if self.library is None:
            raise NotReadyError("the collection library is not open yet.")
        return self.library

    # Collections

    def collection(self, name: str) -> Collection:
        """The shared handle of a collection, checked against the served model (404, 409)."""
        embedder = self.ready_embedder()
        return self.ready_library().open_collection(name, embedder=embedder.fingerprint)

    def searcher(self, name: str) -> Searcher:
        """The searcher of the collection's shared handle, built (and its fingerprint checked: 409 on a
        mismatch) once per handle; a collection deleted and created again gets a new one."""
        collection = self.ready_library().open_collection(name)
        with self._searchers_lock:
            cached = self._searchers.get(name)
        if cached is not None and cached.collection is collection:
            return cached
        searcher = Searcher(collection, self.ready_embedder())
        with self._searchers_lock:
            self._searchers[name] = searcher
        return searcher

    def collection_infos(self) -> list[CollectionInfo]:
        """Every readable collection's counts; empty while the library is closed (used by the metrics scrape,
        where a corrupt collection's -1 counts would read as data)."""
        if self.library is None:
            return []
        try:
            return [info for info in self.library.list_collections() if info.error is None]
        except (RagError, OSError) as exc:  # a scrape must not fail with the store
            logger.warning("collection counts unavailable: %s", type(exc).__name__)
            return []

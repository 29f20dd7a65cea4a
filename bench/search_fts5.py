"""The stages the tantivy index and the pool floor replaced, as ``bench/search_lexical.py`` times them beside
today's: BM25 by SQLite FTS5 (``CollectionView.bm25_fts5``), ``binary+int8`` rescoring only ``k x m``
candidates, hybrid on FTS5; and FTS5's own indexing time for the same chunks."""

from __future__ import annotations

import sqlite3
import time

from rag.fusion import fuse, resolve_hybrid
from rag.search import MIN_CANDIDATES
from rag.store import Collection
from rag.store.collection import DB_FILE
from rag.timing import elapsed_ms
from rag.types import Embeddings, SearchMode

TOP_K, MULTIPLIER = 10, 4


def search_before(collection: Collection, mode: str, query: str, embedded: Embeddings) -> dict[str, float]:
    """One search the way the replaced code ran it; its stage timings (ms)."""
    timings = dict.fromkeys(("hamming", "rescore", "lexical", "fusion", "hydrate"), 0.0)
    started = time.perf_counter()
    with collection.reading() as view:
        dense: list[tuple[int, float]] = []
        if not mode.startswith("bm25"):
            depth = TOP_K if mode.startswith("binary") else max(TOP_K * MULTIPLIER, MIN_CANDIDATES)
            dense, stage = view.search_vectors(
                embedded, mode=SearchMode.BINARY_INT8, top_k=depth, rescore_multiplier=MULTIPLIER, filter=None
            )
            timings.update(stage)
        scored = dense
        if not mode.startswith("binary"):
            lexical_started = time.perf_counter()
            depth = TOP_K if mode.startswith("bm25") else max(TOP_K * MULTIPLIER, MIN_CANDIDATES)
            scored = view.bm25_fts5(query, top_k=depth, filter=None)
            timings["lexical"] = elapsed_ms(lexical_started)
        if mode.startswith("hybrid"):
            fusion_started = time.perf_counter()
            settings = resolve_hybrid(view.settings)
            scored = fuse(dense, scored, method=settings["method"], weight=settings["weight"], top_k=TOP_K)
            timings["fusion"] = elapsed_ms(fusion_started)
        hydrate_started = time.perf_counter()
        view.hydrate(scored[:TOP_K])
        timings["hydrate"] = elapsed_ms(hydrate_started)
    timings["total"] = elapsed_ms(started)
    return timings


def rebuild_fts5(collection: Collection) -> float:
    """Seconds FTS5 takes to index the same chunks (``rebuild`` of ``chunks_fts``, in one transaction)."""
    conn = sqlite3.connect(collection.directory / DB_FILE, isolation_level=None, timeout=60)
    try:
        started = time.perf_counter()
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
        return time.perf_counter() - started
    finally:
        conn.close()

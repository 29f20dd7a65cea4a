"""One read snapshot of a collection: vector search, BM25 and hydration that all see the same commit.

``Collection.reading()`` opens one SQLite read transaction (a WAL snapshot) and hands out a
``CollectionView`` over it, so a hybrid search's dense list, lexical list, fusion settings and hydrated
hits come from one state of the collection, at the cost of one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from rag.store import checks, queries, writes
from rag.store.committed import Committed, committed_from
from rag.store.depth import DEFAULT_ADAPTIVE, AdaptiveDepth
from rag.store.lexical import LexicalState
from rag.store.vectors import VectorState
from rag.timing import elapsed_ms
from rag.types import ChunkRecord, Embeddings, Hit, MetadataFilter, Scored, SearchMode


class CollectionView:
    """Reads inside one open read transaction ``conn``; valid only inside ``Collection.reading()``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        vectors: VectorState,
        lexical: LexicalState,
        filters: queries.FilterCache,
    ) -> None:
        self._conn = conn
        self._vectors = vectors
        self._lexical = lexical
        self._filters = filters
        self._meta = writes.read_meta(conn)
        self.committed: Committed = committed_from(self._meta)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(json.loads(self._meta["settings"]))

    def search_vectors(
        self,
        query: Embeddings,
        *,
        mode: SearchMode,
        top_k: int,
        rescore_multiplier: int | None,
        filter: MetadataFilter | None,
        adaptive: AdaptiveDepth = DEFAULT_ADAPTIVE,
    ) -> tuple[Scored, dict[str, float]]:
        """(chunk id, score) best first for ONE query, and stage timings in ms (``hamming``, ``rescore``,
        and ``filter`` when there is one). ``binary+int8`` rescores ``top_k x rescore_multiplier`` Hamming
        candidates, or as many as ``adaptive`` picks when the multiplier is None; it also reports
        ``candidates``, how many it rescored (a count, not a time)."""
        checks.check_search(query, mode, top_k, rescore_multiplier)
        checks.check_against(self.committed, query, mode)
        started = time.perf_counter()
        allowed = self._filters.matching(self._conn, self.committed.generation, filter) if filter else None
        filter_ms = elapsed_ms(started)
        self._vectors.refresh(self._conn, self.committed)
        scored, timings = self._vectors.search(
            query,
            mode=mode,
            k=top_k,
            multiplier=rescore_multiplier,
            allowed=allowed,
            nprobe=self.committed.nprobe,
            adaptive=adaptive,
        )
        return scored, {**timings, "filter": filter_ms} if filter else timings

    def bm25(self, query_text: str, *, top_k: int, filter: MetadataFilter | None) -> Scored:
        """BM25 top-k over chunk text (the derived tantivy index, ``lexical.py``), higher is better; any
        text is safe (it is split into words, never parsed as a query language)."""
        checks.check_top_k(top_k)
        allowed = self._filters.matching(self._conn, self.committed.generation, filter) if filter else None
        self._lexical.refresh(self._conn, self.committed)
        return self._lexical.search(query_text, top_k, allowed)

    def bm25_fts5(self, query_text: str, *, top_k: int, filter: MetadataFilter | None) -> Scored:
        """The same ranking from SQLite FTS5 (scores every matching chunk): the reference the lexical
        index is tested and benchmarked against."""
        checks.check_top_k(top_k)
        return queries.bm25(self._conn, query_text, top_k, filter)

    def hydrate(self, scored: Scored) -> list[Hit]:
        return queries.hydrate(self._conn, scored)

    def chunk_range(self, document_id: str, first: int, last: int) -> list[tuple[int, ChunkRecord]]:
        """(chunk id, chunk) of one document with ordinals in [first, last], in order (a hit's
        neighbours: ``chunk_range(hit.document_id, hit.chunk_index - n, hit.chunk_index + n)``)."""
        return queries.chunk_range(self._conn, document_id, first, last)

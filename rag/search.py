"""Search: embed the query, then one of the modes, then hydrate hits (text, document, metadata, span).

Modes are ``rag.types.SearchMode``: ``binary`` (Hamming only), ``binary+int8`` (Hamming top ``k x m``
rescored by int8 cosine; the default), ``int8-exact`` and ``float-exact`` (exhaustive cosine), ``bm25``
(FTS5), and ``hybrid`` (dense ``binary+int8`` and BM25 candidates fused by ``rag.fusion.fuse`` with the
collection's tuned ``hybrid`` settings or ``DEFAULT_HYBRID``). Every mode returns the same ``SearchResult``.
A search, its fusion settings and the hydration of its hits read one snapshot of the collection.
"""

from __future__ import annotations

import time

from rag.embedding.base import Embedder
from rag.errors import InvalidInputError
from rag.fingerprint import check_compatible
from rag.fusion import fuse, resolve_hybrid
from rag.store import Collection
from rag.store.view import CollectionView
from rag.timing import elapsed_ms
from rag.types import DEFAULT_SEARCH_MODE, Embeddings, MetadataFilter, Scored, SearchMode, SearchResult

HYBRID_MIN_DEPTH = 100
STAGES = ("embed", "hamming", "rescore", "lexical", "fusion", "hydrate")


class Searcher:
    """Searches one collection with the embedder that built it (checked once, against its fingerprint:
    keep one ``Searcher`` per collection handle rather than one per query)."""

    def __init__(self, collection: Collection, embedder: Embedder) -> None:
        check_compatible(collection.name, collection.fingerprint, embedder=embedder.fingerprint)
        self.collection = collection
        self.embedder = embedder

    def search(
        self,
        query: str,
        *,
        top_k: int = 10,
        rescore_multiplier: int = 4,
        filter: MetadataFilter | None = None,
        mode: SearchMode | str = DEFAULT_SEARCH_MODE,
    ) -> SearchResult:
        """Embed ``query`` (unless the mode is ``bm25``) and search."""
        check_query(query)
        mode = SearchMode.parse(mode)
        started = time.perf_counter()
        embedded = None
        if mode.needs_embedding:
            embedded = self.embedder.embed_queries([query], with_floats=mode is SearchMode.FLOAT_EXACT)
        embed_ms = elapsed_ms(started)
        return self._run(query, embedded, top_k, rescore_multiplier, filter, mode, started, embed_ms)

    def search_embedded(
        self,
        query_text: str,
        query: Embeddings,
        *,
        top_k: int = 10,
        rescore_multiplier: int = 4,
        filter: MetadataFilter | None = None,
        mode: SearchMode | str = DEFAULT_SEARCH_MODE,
    ) -> SearchResult:
        """Search with a query embedded already (``query_text`` feeds ``bm25`` and ``hybrid``)."""
        check_query(query_text)
        mode = SearchMode.parse(mode)
        started = time.perf_counter()
        return self._run(query_text, query, top_k, rescore_multiplier, filter, mode, started, 0.0)

    def _run(
        self,
        text: str,
        query: Embeddings | None,
        top_k: int,
        multiplier: int,
        filter: MetadataFilter | None,
        mode: SearchMode,
        started: float,
        embed_ms: float,
    ) -> SearchResult:
        timings = dict.fromkeys(STAGES, 0.0)
        timings["embed"] = embed_ms
        with self.collection.reading() as view:
            if mode is SearchMode.BM25:
                scored = _lexical(view, text, top_k, filter, timings)
            elif mode is SearchMode.HYBRID:
                scored = _hybrid(view, text, _need(query), top_k, multiplier, filter, timings)
            else:
                scored = _dense(view, _need(query), mode, top_k, multiplier, filter, timings)
            hydrating = time.perf_counter()
            hits = view.hydrate(scored)
            timings["hydrate"] = elapsed_ms(hydrating)
        timings["total"] = elapsed_ms(started)
        return SearchResult(hits=hits, mode=mode, timings=timings)


def _dense(
    view: CollectionView,
    query: Embeddings,
    mode: SearchMode,
    top_k: int,
    multiplier: int,
    filter: MetadataFilter | None,
    timings: dict[str, float],
) -> Scored:
    scored, stage = view.search_vectors(
        query, mode=mode, top_k=top_k, rescore_multiplier=multiplier, filter=filter
    )
    timings.update(stage)
    return scored


def _lexical(
    view: CollectionView, text: str, top_k: int, filter: MetadataFilter | None, timings: dict[str, float]
) -> Scored:
    started = time.perf_counter()
    scored = view.bm25(text, top_k=top_k, filter=filter)
    timings["lexical"] = elapsed_ms(started)
    return scored


def _hybrid(
    view: CollectionView,
    text: str,
    query: Embeddings,
    top_k: int,
    multiplier: int,
    filter: MetadataFilter | None,
    timings: dict[str, float],
) -> Scored:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive integer, got {top_k!r}.")
    depth = max(top_k * multiplier, HYBRID_MIN_DEPTH)
    dense = _dense(view, query, SearchMode.BINARY_INT8, depth, multiplier, filter, timings)
    lexical = _lexical(view, text, depth, filter, timings)
    hybrid = resolve_hybrid(view.settings)
    started = time.perf_counter()
    fused = fuse(dense, lexical, method=hybrid["method"], weight=float(hybrid["weight"]), top_k=top_k)
    timings["fusion"] = elapsed_ms(started)
    return fused


def _need(query: Embeddings | None) -> Embeddings:
    if query is None:
        raise InvalidInputError("This search mode needs the query's embedding.")
    return query


def check_query(query: str) -> None:
    """Refuse an empty or whitespace-only query (every surface: the CLI, the API, the library)."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("the query is empty: give some words to search for.")

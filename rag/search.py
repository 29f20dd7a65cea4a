"""Search: embed the query, then one of the modes, then hydrate hits (text, document, metadata, span).

Modes (``rag.types.SEARCH_MODES``): ``binary`` (Hamming only), ``binary+int8`` (Hamming top ``k x m``
rescored by int8 cosine; the default), ``int8-exact`` and ``float-exact`` (exhaustive cosine), ``bm25``
(FTS5), and ``hybrid`` (dense ``binary+int8`` and BM25 candidates fused by ``rag.fusion.fuse`` with the
collection's tuned ``hybrid`` settings or ``DEFAULT_HYBRID``). Every mode returns the same ``SearchResult``.
"""

from __future__ import annotations

import time

from rag.embedding.base import Embedder
from rag.errors import FingerprintMismatchError, InvalidInputError
from rag.fusion import fuse, resolve_hybrid
from rag.store import Collection
from rag.store.library import fingerprint_differences
from rag.types import DEFAULT_SEARCH_MODE, SEARCH_MODES, Embeddings, MetadataFilter, SearchResult

HYBRID_MIN_DEPTH = 100
Scored = list[tuple[int, float]]


class Searcher:
    """Searches one collection with the embedder that built it (checked against its fingerprint)."""

    def __init__(self, collection: Collection, embedder: Embedder) -> None:
        stored = collection.fingerprint.get("embedder", {})
        differing = fingerprint_differences(stored, embedder.fingerprint)
        if differing:
            raise FingerprintMismatchError(
                f"Collection {collection.name!r} was built by a different embedder (differs in: "
                f"{', '.join(differing)}); search it with the embedder that built it."
            )
        self.collection = collection
        self.embedder = embedder

    def search(
        self,
        query: str,
        *,
        top_k: int = 10,
        rescore_multiplier: int = 4,
        filter: MetadataFilter | None = None,
        mode: str = DEFAULT_SEARCH_MODE,
    ) -> SearchResult:
        """Embed ``query`` (unless the mode is ``bm25``) and search."""
        _check_mode(mode)
        started = time.perf_counter()
        embedded = None
        if mode != "bm25":
            embedded = self.embedder.embed_queries([query], with_floats=mode == "float-exact")
        embed_ms = _ms(started)
        result = self._run(query, embedded, top_k, rescore_multiplier, filter, mode)
        result.timings["embed"] = embed_ms
        result.timings["total"] = _ms(started)
        return result

    def search_embedded(
        self,
        query_text: str,
        query: Embeddings,
        *,
        top_k: int = 10,
        rescore_multiplier: int = 4,
        filter: MetadataFilter | None = None,
        mode: str = DEFAULT_SEARCH_MODE,
    ) -> SearchResult:
        """Search with a query embedded already (``query_text`` feeds ``bm25`` and ``hybrid``)."""
        _check_mode(mode)
        started = time.perf_counter()
        result = self._run(query_text, query, top_k, rescore_multiplier, filter, mode)
        result.timings["embed"] = 0.0
        result.timings["total"] = _ms(started)
        return result

    def _run(
        self,
        text: str,
        query: Embeddings | None,
        top_k: int,
        multiplier: int,
        filter: MetadataFilter | None,
        mode: str,
    ) -> SearchResult:
        timings = {
            "embed": 0.0,
            "hamming": 0.0,
            "rescore": 0.0,
            "lexical": 0.0,
            "fusion": 0.0,
            "hydrate": 0.0,
        }
        if mode == "bm25":
            scored = self._lexical(text, top_k, filter, timings)
        elif mode == "hybrid":
            scored = self._hybrid(text, _need(query), top_k, multiplier, filter, timings)
        else:
            scored = self._dense(_need(query), mode, top_k, multiplier, filter, timings)
        started = time.perf_counter()
        hits = self.collection.hydrate(scored)
        timings["hydrate"] = _ms(started)
        return SearchResult(hits=hits, mode=mode, timings=timings)

    def _dense(
        self,
        query: Embeddings,
        mode: str,
        top_k: int,
        multiplier: int,
        filter: MetadataFilter | None,
        timings: dict[str, float],
    ) -> Scored:
        scored, stage = self.collection.search_vectors(
            query, mode=mode, top_k=top_k, rescore_multiplier=multiplier, filter=filter
        )
        timings.update(stage)
        return scored

    def _lexical(
        self, text: str, top_k: int, filter: MetadataFilter | None, timings: dict[str, float]
    ) -> Scored:
        started = time.perf_counter()
        scored = self.collection.bm25(text, top_k=top_k, filter=filter)
        timings["lexical"] = _ms(started)
        return scored

    def _hybrid(
        self,
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
        dense = self._dense(query, "binary+int8", depth, multiplier, filter, timings)
        lexical = self._lexical(text, depth, filter, timings)
        hybrid = resolve_hybrid(self.collection.settings)
        started = time.perf_counter()
        fused = fuse(dense, lexical, method=hybrid["method"], weight=float(hybrid["weight"]), top_k=top_k)
        timings["fusion"] = _ms(started)
        return fused


def _check_mode(mode: str) -> None:
    if mode not in SEARCH_MODES:
        raise InvalidInputError(f"Unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}.")


def _need(query: Embeddings | None) -> Embeddings:
    if query is None:
        raise InvalidInputError("This search mode needs the query's embedding.")
    return query


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0

"""Search: embed the query, then one of the modes, then hydrate hits (text, document, metadata, span).

Modes are ``rag.types.SearchMode``: ``binary`` (Hamming only), ``binary+int8`` (Hamming candidates rescored
by int8 cosine), ``int8-exact`` and ``float-exact`` (exhaustive cosine), ``bm25`` (the store's top-k BM25
index), and ``hybrid`` (the default: a dense ``binary+int8`` list and a BM25 list, each
``max(k x 4, MIN_CANDIDATES)`` deep, fused by ``rag.fusion.fuse`` with the collection's tuned ``hybrid``
settings or ``DEFAULT_HYBRID``). Every mode returns the same ``SearchResult``.

How many Hamming candidates ``binary+int8`` rescores (its depth):

- by default (``rescore_multiplier=None``) the adaptive rule of ``rag.store.depth``: every candidate within
  calibrated margins of the 10th and the ``top_k``-th Hamming distances, so a query whose nearest codes crowd
  together rescores more than one whose codes stand apart;
- with a ``rescore_multiplier`` m, a fixed pool of ``max(k x m, MIN_CANDIDATES)``.

``hybrid``'s dense list is its whole rescored pool, ``max(k x 4, MIN_CANDIDATES)`` deep (``k x m`` with a
multiplier): every candidate rescored is used, so there is no depth to choose.

Either way a short list is a prefix of a longer one up to a floor of ``top_k``, so that the first hits do not
depend on ``top_k``: with a pool of ``k x m`` alone, ``top_k=1`` rescored 4 Hamming candidates and
``top_k=3`` twelve, and a query's best chunk could be missing from the smaller pool (the sample corpus's
"who approves travel exceptions?" put another document first at ``top_k`` 1 and 2). The fixed pool is the
same up to ``top_k = MIN_CANDIDATES / m``, the adaptive one up to ``top_k = REFERENCE_FLOOR`` (10).
``SearchResult.candidates`` says how many were rescored.
A search, its fusion settings and the hydration of its hits read one snapshot of the collection.
"""

from __future__ import annotations

import time

from rag.embedding.base import Embedder
from rag.errors import InvalidInputError
from rag.fingerprint import check_compatible
from rag.fusion import fuse, resolve_hybrid
from rag.store import Collection
from rag.store.checks import check_multiplier, check_top_k
from rag.store.depth import DEFAULT_ADAPTIVE, AdaptiveDepth
from rag.store.view import CollectionView
from rag.timing import elapsed_ms
from rag.types import DEFAULT_SEARCH_MODE, Embeddings, MetadataFilter, Scored, SearchMode, SearchResult

# Floor of the fixed dense rescoring pool and of each hybrid list (see the module docstring).
MIN_CANDIDATES = 100
# hybrid's lists are max(k x this, MIN_CANDIDATES) deep when no multiplier is given
LIST_MULTIPLIER = 4
STAGES = ("embed", "hamming", "rescore", "lexical", "fusion", "hydrate")


class Searcher:
    """Searches one collection with the embedder that built it (checked once, against its fingerprint:
    keep one ``Searcher`` per collection handle rather than one per query). ``adaptive`` is the rescoring
    rule used when a search gives no ``rescore_multiplier``."""

    def __init__(
        self, collection: Collection, embedder: Embedder, *, adaptive: AdaptiveDepth = DEFAULT_ADAPTIVE
    ) -> None:
        check_compatible(collection.name, collection.fingerprint, embedder=embedder.fingerprint)
        self.collection = collection
        self.embedder = embedder
        self.adaptive = adaptive

    def search(
        self,
        query: str,
        *,
        top_k: int = 10,
        rescore_multiplier: int | None = None,
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
        rescore_multiplier: int | None = None,
        filter: MetadataFilter | None = None,
        mode: SearchMode | str = DEFAULT_SEARCH_MODE,
    ) -> SearchResult:
        """Search with a query embedded already (``query_text`` feeds ``bm25`` and ``hybrid``)."""
        check_query(query_text)
        mode = SearchMode.parse(mode)
        started = time.perf_counter()
        return self._run(query_text, query, top_k, rescore_multiplier, filter, mode, started, 0.0)

    def search_in(
        self,
        view: CollectionView,
        query_text: str,
        query: Embeddings | None,
        *,
        top_k: int = 10,
        rescore_multiplier: int | None = None,
        filter: MetadataFilter | None = None,
        mode: SearchMode | str = DEFAULT_SEARCH_MODE,
    ) -> SearchResult:
        """Search inside a read snapshot the caller holds (``self.collection.reading()``), so that what
        it reads next (e.g. the hits' neighbour chunks) sees the same commit. ``query`` is the embedded
        query (None only for ``bm25``)."""
        mode = SearchMode.parse(mode)
        started = time.perf_counter()
        return self._in_view(view, query_text, query, top_k, rescore_multiplier, filter, mode, started, 0.0)

    def _run(
        self,
        text: str,
        query: Embeddings | None,
        top_k: int,
        multiplier: int | None,
        filter: MetadataFilter | None,
        mode: SearchMode,
        started: float,
        embed_ms: float,
    ) -> SearchResult:
        with self.collection.reading() as view:
            return self._in_view(view, text, query, top_k, multiplier, filter, mode, started, embed_ms)

    def _in_view(
        self,
        view: CollectionView,
        text: str,
        query: Embeddings | None,
        top_k: int,
        multiplier: int | None,
        filter: MetadataFilter | None,
        mode: SearchMode,
        started: float,
        embed_ms: float,
    ) -> SearchResult:
        timings = dict.fromkeys(STAGES, 0.0)
        timings["embed"] = embed_ms
        rule = self.adaptive
        if mode is SearchMode.BM25:
            scored = _lexical(view, text, top_k, filter, timings)
        elif mode is SearchMode.HYBRID:
            scored = _hybrid(view, text, _need(query), top_k, multiplier, filter, timings)
        else:
            scored = _dense(view, _need(query), mode, top_k, multiplier, rule, filter, timings)
        candidates = timings.pop("candidates", None)  # a count the store reports beside its stage times
        hydrating = time.perf_counter()
        hits = view.hydrate(scored)
        timings["hydrate"] = elapsed_ms(hydrating)
        timings["total"] = elapsed_ms(started)
        count = None if candidates is None else int(candidates)
        return SearchResult(hits=hits, mode=mode, timings=timings, candidates=count)


def _dense(
    view: CollectionView,
    query: Embeddings,
    mode: SearchMode,
    top_k: int,
    multiplier: int | None,
    adaptive: AdaptiveDepth,
    filter: MetadataFilter | None,
    timings: dict[str, float],
) -> Scored:
    if mode is SearchMode.BINARY_INT8 and multiplier is None:
        scored, stage = view.search_vectors(
            query, mode=mode, top_k=top_k, rescore_multiplier=None, filter=filter, adaptive=adaptive
        )
        timings.update(stage)
        return scored
    if mode is SearchMode.BINARY_INT8 and multiplier is not None:
        # rescore a pool of fixed size and keep its best top_k (multiplier 1: the pool IS the depth)
        check_top_k(top_k)
        check_multiplier(multiplier)
        pool = max(top_k * multiplier, MIN_CANDIDATES)
        scored, stage = view.search_vectors(query, mode=mode, top_k=pool, rescore_multiplier=1, filter=filter)
        timings.update(stage)
        return scored[:top_k]
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
    multiplier: int | None,
    filter: MetadataFilter | None,
    timings: dict[str, float],
) -> Scored:
    check_top_k(top_k)
    check_multiplier(multiplier)
    depth = max(top_k * (multiplier or LIST_MULTIPLIER), MIN_CANDIDATES)
    # the dense list is binary+int8's whole rescored pool (depth candidates, multiplier 1), the same work as
    # a binary+int8 search, not a 4x deeper Hamming scan and rescoring (docs/storage.md, measured). The list
    # is the pool, so there is no depth left to choose: the adaptive rule, asked for binary+int8's top
    # ``depth``, rescored 2.1-2.4x as many candidates for no better fusion (docs/evaluation.md, measured).
    dense = _dense(view, query, SearchMode.BINARY_INT8, depth, 1, DEFAULT_ADAPTIVE, filter, timings)
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

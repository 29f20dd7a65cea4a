"""Search through the API: the query embedded by the batcher (or its cache), the search on a thread.

``answer_search`` runs one search and returns a ``SearchAnswer``; the REST route sends its
``json_bytes()`` as they are, the MCP tool reads its ``response()``. The route's bytes are the JSON of
``SearchResponse`` (a test holds them to it) written in one pydantic-core call from the core dataclasses:
validating ten ``HitPublic`` models from attributes and then a ``SearchResponse`` again for FastAPI's
response check cost ~0.3 ms of event-loop time per search, the thread the served throughput is bound by.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from api.auth import Principal
from api.schemas import HitPublic, SearchRequest, SearchResponse
from api.state import AppState
from rag.timing import elapsed_ms
from rag.types import Hit, SearchMode, SearchResult


@dataclass(frozen=True)
class _SearchWire:
    """``SearchResponse``'s fields, in its order, over the core ``Hit`` dataclass (same field names)."""

    hits: list[Hit]
    timings: dict[str, float]
    model: str
    mode: SearchMode
    candidates: int | None


_WIRE = TypeAdapter(_SearchWire)


@dataclass(frozen=True)
class SearchAnswer:
    """One search's result, the model that embedded its query and its per-stage timings (embed included)."""

    result: SearchResult
    model: str
    timings: dict[str, float]

    def json_bytes(self) -> bytes:
        """The ``SearchResponse`` JSON."""
        result = self.result
        return _WIRE.dump_json(
            _SearchWire(result.hits, self.timings, self.model, result.mode, result.candidates)
        )

    def response(self) -> SearchResponse:
        return SearchResponse(
            hits=[HitPublic.model_validate(hit) for hit in self.result.hits],
            timings=self.timings,
            model=self.model,
            mode=self.result.mode,
            candidates=self.result.candidates,
        )

    def server_timing(self) -> str:
        """The ``Server-Timing`` header of per-stage milliseconds."""
        return ", ".join(f"{stage};dur={ms:.3f}" for stage, ms in self.timings.items())


async def answer_search(state: AppState, principal: Principal, request: SearchRequest) -> SearchAnswer:
    """Embed the query (batched with concurrent ones, or from the cache), then open the collection and
    search it in one trip to the search threads."""
    principal.require_collection(request.collection)
    embedder = state.ready_embedder()
    settings = state.settings
    options: dict[str, Any] = {
        "top_k": settings.top_k if request.top_k is None else request.top_k,
        "rescore_multiplier": (
            settings.rescore_multiplier if request.rescore_multiplier is None else request.rescore_multiplier
        ),
        "filter": request.filter,
        "mode": request.mode,
    }
    loop = asyncio.get_running_loop()
    if not request.mode.needs_embedding:  # lexical only: no query embedding
        result = await loop.run_in_executor(
            state.search_executor, lambda: state.searcher(request.collection).search(request.query, **options)
        )
        return _answer(state, result, embedder.model_name, embed_ms=0.0)
    with state.priority.query():  # bulk embedding slices wait meanwhile (api/priority.py)
        started = time.perf_counter()
        query = await state.ready_batcher().embed(request.query)
        embed_ms = elapsed_ms(started)
        result = await loop.run_in_executor(
            state.search_executor,
            lambda: state.searcher(request.collection).search_embedded(request.query, query, **options),
        )
    return _answer(state, result, embedder.model_name, embed_ms=embed_ms)


def _answer(state: AppState, result: SearchResult, model: str, *, embed_ms: float) -> SearchAnswer:
    timings = {stage: round(ms, 3) for stage, ms in result.timings.items()}
    timings["embed"] = round(embed_ms, 3)
    timings["total"] = round(result.timings.get("total", 0.0) + embed_ms, 3)
    state.metrics.observe_search(timings)
    return SearchAnswer(result, model, timings)

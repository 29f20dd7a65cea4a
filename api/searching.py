"""Search through the API: the query embedded by the batcher (or its cache), the search on a thread."""

from __future__ import annotations

import time
from typing import Any

from fastapi.concurrency import run_in_threadpool

from api.auth import Principal
from api.schemas import HitPublic, SearchRequest, SearchResponse
from api.state import AppState
from rag.timing import elapsed_ms
from rag.types import SearchResult


def server_timing(timings: dict[str, float]) -> str:
    """The ``Server-Timing`` header of per-stage milliseconds."""
    return ", ".join(f"{stage};dur={ms:.3f}" for stage, ms in timings.items())


async def run_search(state: AppState, principal: Principal, request: SearchRequest) -> SearchResponse:
    """Embed the query (batched with concurrent ones, or from the cache), then open the collection and
    search it in one trip off the event loop."""
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
    if not request.mode.needs_embedding:  # lexical only: no query embedding
        result = await run_in_threadpool(
            lambda: state.searcher(request.collection).search(request.query, **options)
        )
        return _response(state, result, embedder.model_name, embed_ms=0.0)
    with state.priority.query():  # bulk embedding slices wait meanwhile (api/priority.py)
        started = time.perf_counter()
        query = await state.ready_batcher().embed(request.query)
        embed_ms = elapsed_ms(started)
        result = await run_in_threadpool(
            lambda: state.searcher(request.collection).search_embedded(request.query, query, **options)
        )
    return _response(state, result, embedder.model_name, embed_ms=embed_ms)


def _response(state: AppState, result: SearchResult, model: str, *, embed_ms: float) -> SearchResponse:
    timings = {stage: round(ms, 3) for stage, ms in result.timings.items()}
    timings["embed"] = round(embed_ms, 3)
    timings["total"] = round(result.timings.get("total", 0.0) + embed_ms, 3)
    state.metrics.observe_search(timings)
    return SearchResponse(
        hits=[HitPublic.model_validate(hit) for hit in result.hits],
        timings=timings,
        model=model,
        mode=result.mode,
        candidates=result.candidates,
    )

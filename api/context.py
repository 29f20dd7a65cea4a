"""Context for prompts through the API: the query embedded by the batcher, then ``rag.retrieve_context``
(search and neighbour reads in one snapshot, then the packing every surface shares) on a thread."""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool

from api.auth import Principal
from api.schemas import CitationPublic, ContextRequest, ContextResponse
from api.state import AppState
from ingest.encoding import token_counter
from rag.context import TokenCounter, retrieve_context
from rag.errors import ConfigError, InvalidInputError


def counter_for(state: AppState, encoding: str) -> TokenCounter:
    """The token counter of ``encoding``; one that cannot load offline is the request's fault (422)."""
    try:
        return token_counter(encoding, state.settings.tiktoken_cache_dir)
    except ConfigError as exc:
        raise InvalidInputError(exc.message) from None


async def run_context(state: AppState, principal: Principal, request: ContextRequest) -> ContextResponse:
    principal.require_collection(request.collection)
    embedder = state.ready_embedder()
    count_tokens = await run_in_threadpool(counter_for, state, request.encoding)
    with state.priority.query():  # bulk embedding slices wait meanwhile (api/priority.py)
        return await _retrieve(state, request, count_tokens, embedder.model_name)


async def _retrieve(
    state: AppState, request: ContextRequest, count_tokens: TokenCounter, model: str
) -> ContextResponse:
    query = await state.ready_batcher().embed(request.query) if request.mode.needs_embedding else None
    top_k = state.settings.top_k if request.top_k is None else request.top_k

    def retrieve() -> ContextResponse:
        context = retrieve_context(
            state.searcher(request.collection),
            request.query,
            max_tokens=request.max_tokens,
            count_tokens=count_tokens,
            neighbors=request.neighbors,
            top_k=top_k,
            rescore_multiplier=state.settings.rescore_multiplier,
            filter=request.filter,
            mode=request.mode,
            query_embedding=query,
        )
        citations = [CitationPublic.model_validate(citation) for citation in context.citations]
        return ContextResponse(context=context.text, citations=citations, tokens=context.tokens, model=model)

    return await run_in_threadpool(retrieve)

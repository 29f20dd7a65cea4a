"""The MCP tools' work, on the service's own parts: ``run_search`` (the query batcher and the cached
``Searcher``), the one ``Library``, and the callers' keys. Read-only: nothing here writes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.auth import Principal
from api.collections import get_document, list_collections
from api.mcp.models import (
    ChunkSpan,
    CollectionItem,
    CollectionsOutput,
    FetchOutput,
    SearchOutput,
    SearchResultItem,
    citation,
    parse_result_id,
    result_id,
    split_document_id,
)
from api.schemas import ChunkPublic, SearchRequest
from api.searching import answer_search
from api.state import AppState
from rag.errors import DocumentNotFoundError, InvalidInputError

MODEL_WAIT_SECONDS = 120.0


async def wait_for_model(state: AppState, timeout: float = MODEL_WAIT_SECONDS) -> None:
    """Wait while the model still loads (a tool call right after start), then fail as REST would."""
    deadline = time.monotonic() + timeout
    while state.embedder is None and state.load_error is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    state.ready_embedder()


def _search_request(values: dict[str, Any]) -> SearchRequest:
    try:
        return SearchRequest.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidInputError(f"invalid search arguments: {problems}") from None


async def search(state: AppState, principal: Principal, **arguments: Any) -> SearchOutput:
    request = _search_request(arguments)
    principal.require_collection(request.collection)
    await wait_for_model(state)
    response = (await answer_search(state, principal, request)).response()
    results = [
        SearchResultItem(
            index=rank,
            id=result_id(request.collection, hit.document_id, hit.chunk_id),
            collection=request.collection,
            document_id=hit.document_id,
            chunk_id=hit.chunk_id,
            score=hit.score,
            title=hit.title,
            source=hit.source,
            page=hit.page,
            char_start=hit.char_start,
            char_end=hit.char_end,
            citation=citation(hit.source, hit.title, hit.page, hit.char_start, hit.char_end),
            text=hit.text,
            metadata=hit.metadata,
        )
        for rank, hit in enumerate(response.hits, start=1)
    ]
    return SearchOutput(
        query=request.query, collection=request.collection, mode=response.mode, results=results
    )


def document_text(chunks: list[ChunkPublic]) -> str:
    """The text rebuilt from its chunks, which cover it but for whitespace between them: each gap is
    filled with as many characters as it had (newlines first), so chunk offsets index the result."""
    parts: list[str] = []
    end = 0
    for chunk in sorted(chunks, key=lambda c: c.char_start):
        gap = chunk.char_start - end
        if gap > 0:
            parts.append("\n" * min(gap, 2) + " " * max(gap - 2, 0))
        parts.append(chunk.text)
        end = chunk.char_end
    return "".join(parts)


def _chunk_span(state: AppState, collection: str, document_id: str, chunk_id: int) -> ChunkSpan:
    hits = state.ready_library().open_collection(collection).hydrate([(chunk_id, 0.0)])
    if not hits or hits[0].document_id != document_id:
        raise DocumentNotFoundError(
            f"no chunk {chunk_id} of the document {document_id!r} in the collection {collection!r}; "
            "it may have been replaced since the search (search again)."
        )
    hit = hits[0]
    return ChunkSpan(chunk_id=chunk_id, char_start=hit.char_start, char_end=hit.char_end, page=hit.page)


def _fetch(
    state: AppState, value: str, collection: str, document_id: str, chunk_id: int | None
) -> FetchOutput:
    document = get_document(state, collection, document_id)
    span = None if chunk_id is None else _chunk_span(state, collection, document_id, chunk_id)
    return FetchOutput(
        id=value,
        collection=collection,
        document_id=document.id,
        title=document.title,
        source=document.source,
        metadata=document.metadata,
        version=document.version,
        updated_at=document.updated_at,
        chunks=document.chunk_count,
        text=document_text(document.chunks),
        chunk=span,
    )


async def fetch(state: AppState, principal: Principal, value: str, collection: str | None) -> FetchOutput:
    name, document_id, chunk_id = split_document_id(value, collection)
    principal.require_collection(name)
    try:
        return await run_in_threadpool(_fetch, state, value, name, document_id, chunk_id)
    except DocumentNotFoundError as exc:
        if collection is not None and parse_result_id(value) is not None:
            hint = " (to fetch a result id, leave collection out)"
            raise DocumentNotFoundError(exc.message.rstrip(".") + hint + ".") from None
        raise


async def collections(state: AppState, principal: Principal) -> CollectionsOutput:
    listing = await run_in_threadpool(list_collections, state, principal)
    items = [
        CollectionItem(name=c.name, documents=c.documents, chunks=c.chunks, error=c.error)
        for c in listing.collections
    ]
    return CollectionsOutput(collections=items)

"""The hosted-API-compatible embedding endpoints' work, run on the bulk model thread (never the queries')."""

from __future__ import annotations

import asyncio

from api.state import AppState
from api.wire import (
    ContextualizedEmbeddingsRequest,
    ContextualizedEmbeddingsResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    check_dimensions,
    check_model,
    check_tokens,
    contextualized_response,
    embeddings_response,
    encode_rows,
)


def _embed_texts(state: AppState, request: EmbeddingsRequest) -> EmbeddingsResponse:
    embedder = state.ready_embedder()
    check_model(request.model, embedder.fingerprint.query_model)
    width = check_dimensions(request.dimensions, embedder.dimensions, request.encoding_format)
    texts = request.texts()
    tokens = check_tokens(embedder.count_tokens(texts))
    embeddings = embedder.embed_queries(texts)
    return embeddings_response(encode_rows(embeddings, width, request.encoding_format), request.model, tokens)


def _embed_documents(
    state: AppState, request: ContextualizedEmbeddingsRequest
) -> ContextualizedEmbeddingsResponse:
    embedder = state.ready_embedder()
    check_model(request.model, embedder.fingerprint.doc_model)
    width = check_dimensions(request.dimensions, embedder.dimensions, request.encoding_format)
    # Counted as the document model reads a document: its chunks joined by separators, in one sequence.
    tokens = check_tokens(embedder.count_document_tokens(request.input))
    per_document = embedder.embed_documents(request.input)
    rows = [encode_rows(embeddings, width, request.encoding_format) for embeddings in per_document]
    return contextualized_response(rows, request.model, tokens)


async def embed_texts(state: AppState, request: EmbeddingsRequest) -> EmbeddingsResponse:
    """``/v1/embeddings``: independent texts through the query model."""
    state.ready_embedder()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(state.bulk_executor, _embed_texts, state, request)


async def embed_documents(
    state: AppState, request: ContextualizedEmbeddingsRequest
) -> ContextualizedEmbeddingsResponse:
    """``/v1/contextualizedembeddings``: documents' chunks through the document model, in context."""
    state.ready_embedder()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(state.bulk_executor, _embed_documents, state, request)

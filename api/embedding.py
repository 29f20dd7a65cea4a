"""The embedding endpoints' work (hosted pplx-embed and OpenAI formats), run on the bulk model thread
(never the queries')."""

from __future__ import annotations

import asyncio

import numpy as np

from api.openai_wire import OpenAIEmbeddingsResponse, float_rows, openai_embeddings_response, unit_floats
from api.priority import slices
from api.state import AppState
from api.wire import (
    ContextualizedEmbeddingsRequest,
    ContextualizedEmbeddingsResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    check_dimensions,
    check_tokens,
    contextualized_response,
    embeddings_response,
    encode_rows,
)
from rag.types import Embeddings


def concatenate(parts: list[Embeddings]) -> Embeddings:
    """The slices' rows as one ``Embeddings`` (floats kept when every slice has them)."""
    if len(parts) == 1:
        return parts[0]
    floats = [part.floats for part in parts]
    return Embeddings(
        np.concatenate([part.int8 for part in parts]),
        np.concatenate([part.bits for part in parts]),
        np.concatenate(floats) if all(f is not None for f in floats) else None,  # type: ignore[arg-type]
    )


def _embed_texts(
    state: AppState, request: EmbeddingsRequest
) -> EmbeddingsResponse | OpenAIEmbeddingsResponse:
    embedder = state.ready_embedder()
    state.models.check(request.model, "query")
    encoding = request.encoding_format
    width = check_dimensions(request.dimensions, embedder.dimensions, encoding)
    texts = request.texts()
    counts = embedder.count_tokens(texts)
    tokens = check_tokens(counts)
    floats = encoding == "float" or encoding == "base64"
    parts = []
    for part in slices(counts):  # bounded pieces, each after the queries in flight (api/priority.py)
        state.priority.before_slice()
        parts.append(embedder.embed_queries([texts[i] for i in part], with_floats=floats))
    embeddings = concatenate(parts)
    if encoding == "float" or encoding == "base64":
        vectors = unit_floats(embeddings, width)
        return openai_embeddings_response(float_rows(vectors, encoding), request.model, tokens)
    return embeddings_response(encode_rows(embeddings, width, encoding), request.model, tokens)


def _embed_documents(
    state: AppState, request: ContextualizedEmbeddingsRequest
) -> ContextualizedEmbeddingsResponse:
    embedder = state.ready_embedder()
    state.models.check(request.model, "document")
    width = check_dimensions(request.dimensions, embedder.dimensions, request.encoding_format)
    # Counted as the document model reads a document: its chunks joined by separators, in one sequence.
    counts = embedder.count_document_tokens(request.input)
    tokens = check_tokens(counts)
    per_document = []
    for part in slices(counts):  # whole documents, in bounded pieces after the queries in flight
        state.priority.before_slice()
        per_document += embedder.embed_documents([request.input[i] for i in part])
    rows = [encode_rows(embeddings, width, request.encoding_format) for embeddings in per_document]
    return contextualized_response(rows, request.model, tokens)


async def embed_texts(
    state: AppState, request: EmbeddingsRequest
) -> EmbeddingsResponse | OpenAIEmbeddingsResponse:
    """``/v1/embeddings``: independent texts through the query model; OpenAI's shape for its formats."""
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

"""``POST /v1/embeddings`` and ``POST /v1/contextualizedembeddings``, as the hosted pplx-embed API."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader, State
from api.embedding import embed_documents, embed_texts
from api.errors import AUTH_CODES, error_responses
from api.wire import (
    ContextualizedEmbeddingsRequest,
    ContextualizedEmbeddingsResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
)

router = APIRouter(prefix="/v1", tags=["embeddings"])
ERRORS = error_responses(*AUTH_CODES, 404, 422, 503)


@router.post("/embeddings", summary="Embed independent texts", responses=ERRORS)
async def embeddings(body: EmbeddingsRequest, state: State, principal: Reader) -> EmbeddingsResponse:
    """base64 int8 codes or LSB-first sign bits per input; ``model`` must name the served query model."""
    return await embed_texts(state, body)


@router.post("/contextualizedembeddings", summary="Embed document chunks in context", responses=ERRORS)
async def contextualized_embeddings(
    body: ContextualizedEmbeddingsRequest, state: State, principal: Reader
) -> ContextualizedEmbeddingsResponse:
    """One list per document, one embedding per chunk; ``model`` must name the served document model."""
    return await embed_documents(state, body)

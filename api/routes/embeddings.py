"""``POST /v1/embeddings`` (hosted pplx-embed and OpenAI formats), ``POST /v1/contextualizedembeddings``."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader, State
from api.embedding import embed_documents, embed_texts
from api.errors import AUTH_CODES, SdkErrorRoute, error_responses
from api.openai_wire import OpenAIEmbeddingsResponse, SdkErrorBody
from api.wire import (
    ContextualizedEmbeddingsRequest,
    ContextualizedEmbeddingsResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
)

router = APIRouter(prefix="/v1", tags=["embeddings"], route_class=SdkErrorRoute)
ERRORS = error_responses(*AUTH_CODES, 404, 422, 503, body=SdkErrorBody)


@router.post("/embeddings", summary="Embed independent texts", responses=ERRORS)
async def embeddings(
    body: EmbeddingsRequest, state: State, principal: Reader
) -> EmbeddingsResponse | OpenAIEmbeddingsResponse:
    """One embedding per input through the served query model: base64 int8 codes or LSB-first sign bits
    (the hosted pplx shape), or unit-length float vectors as numbers or base64 float32 (OpenAI's shape).
    ``model`` must name the served query model or an alias of it."""
    return await embed_texts(state, body)


@router.post("/contextualizedembeddings", summary="Embed document chunks in context", responses=ERRORS)
async def contextualized_embeddings(
    body: ContextualizedEmbeddingsRequest, state: State, principal: Reader
) -> ContextualizedEmbeddingsResponse:
    """One list per document, one embedding per chunk; ``model`` must name the served document model or an
    alias of it."""
    return await embed_documents(state, body)

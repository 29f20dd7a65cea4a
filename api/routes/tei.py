"""TEI-compatible routes: ``POST /embed``, ``POST /`` (where TEI's clients post, e.g. huggingface_hub's
``InferenceClient(base_url=...).feature_extraction``) and ``GET /info``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Reader, State
from api.errors import AUTH_CODES, error_responses
from api.info import package_versions
from api.tei import TeiEmbedRequest, embed, info

router = APIRouter(tags=["tei"])
ERRORS = error_responses(*AUTH_CODES, 422, 503)


@router.post(
    "/embed",
    operation_id="tei_embed",
    summary="Embed texts (TEI)",
    description="TEI's /embed with the query model: a list of float lists.",
    responses=ERRORS,
)
@router.post(
    "/",
    operation_id="tei_embed_root",
    summary="Embed texts (TEI's root route)",
    description="The same as /embed, where huggingface_hub's InferenceClient posts.",
    responses=ERRORS,
)
async def tei_embed(body: TeiEmbedRequest, state: State, principal: Reader) -> list[list[float]]:
    """The query model's int8 codes as floats (``normalize: false``), or those codes L2-normalised; TEI
    answers its model's task at the root too, so one handler serves both paths."""
    return await embed(state, body)


@router.get(
    "/info",
    operation_id="tei_info",
    summary="The served model (TEI)",
    description="TEI's /info: the query model's id and settings.",
    responses=error_responses(*AUTH_CODES, 503),
)
async def tei_info(state: State, principal: Reader) -> dict[str, Any]:
    """TEI's model information for the query model."""
    return info(state, package_versions().get("pplx-rag", "unknown"))

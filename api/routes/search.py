"""``POST /v1/search``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import Reader, State
from api.errors import AUTH_CODES, error_responses
from api.schemas import SearchRequest, SearchResponse
from api.searching import answer_search

router = APIRouter(prefix="/v1", tags=["search"])


@router.post(
    "/search",
    operation_id="search",
    summary="Search a collection",
    response_model=SearchResponse,  # the schema; the body is written by api.searching, held to it by tests
    responses=error_responses(*AUTH_CODES, 404, 409, 422, 429, 503),
)
async def search(body: SearchRequest, state: State, principal: Reader) -> Response:
    """The ``top_k`` best chunks for ``query``; per-stage timings also go out as ``Server-Timing``."""
    answer = await answer_search(state, principal, body)
    return Response(
        answer.json_bytes(), media_type="application/json", headers={"Server-Timing": answer.server_timing()}
    )

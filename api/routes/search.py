"""``POST /v1/search``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import Reader, State
from api.errors import AUTH_CODES, error_responses
from api.schemas import SearchRequest, SearchResponse
from api.searching import run_search, server_timing

router = APIRouter(prefix="/v1", tags=["search"])


@router.post(
    "/search",
    operation_id="search",
    summary="Search a collection",
    responses=error_responses(*AUTH_CODES, 404, 409, 422, 429, 503),
)
async def search(body: SearchRequest, state: State, principal: Reader, response: Response) -> SearchResponse:
    """The ``top_k`` best chunks for ``query``; per-stage timings also go out as ``Server-Timing``."""
    result = await run_search(state, principal, body)
    response.headers["Server-Timing"] = server_timing(result.timings)
    return result

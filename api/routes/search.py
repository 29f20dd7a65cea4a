"""``POST /v1/search``: this route, and ``api.hotpath`` below FastAPI where it can; both send
``search_response``."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Response
from fastapi.routing import APIRoute

from api.deps import Reader, State
from api.errors import AUTH_CODES, error_responses
from api.schemas import SearchRequest, SearchResponse
from api.searching import SearchAnswer, answer_search

SEARCH_PATH = "/v1/search"

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
    return search_response(await answer_search(state, principal, body))


def search_response(answer: SearchAnswer) -> Response:
    return Response(
        answer.json_bytes(), media_type="application/json", headers={"Server-Timing": answer.server_timing()}
    )


@functools.cache
def search_route() -> APIRoute:
    """The route object the app matches ``POST /v1/search`` to (its ``scope["route"]``)."""
    (route,) = (r for r in router.routes if isinstance(r, APIRoute) and r.path == SEARCH_PATH)
    return route

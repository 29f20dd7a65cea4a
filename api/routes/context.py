"""``POST /v1/context``."""

from __future__ import annotations

from fastapi import APIRouter

from api.context import run_context
from api.deps import Reader, State
from api.errors import AUTH_CODES, error_responses
from api.schemas import ContextRequest, ContextResponse

router = APIRouter(prefix="/v1", tags=["search"])


@router.post(
    "/context",
    operation_id="get_context",
    summary="Context for a prompt",
    responses=error_responses(*AUTH_CODES, 404, 409, 422, 429, 503),
)
async def get_context(body: ContextRequest, state: State, principal: Reader) -> ContextResponse:
    """Search ``query``, widen each hit by ``neighbors`` chunks on each side, merge what overlaps within a
    document, and write the passages best first as ``[1]``, ``[2]``, ... (title, source, text) within
    ``max_tokens`` tokens of ``encoding``; ``citations`` say which document span each number cites."""
    return await run_context(state, principal, body)

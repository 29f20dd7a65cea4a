"""Liveness, readiness, Prometheus metrics (a key only with RAG_METRICS_REQUIRE_KEY) and build information."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Reader, State, bearer
from api.errors import AUTH_CODES, error_responses
from api.info import build_info, readiness
from api.schemas import Health, Info, Ready
from rag.errors import ForbiddenError

router = APIRouter(tags=["service"])


@router.get("/healthz", operation_id="health", summary="The process is alive")
async def healthz() -> Health:
    """Answers as soon as the process serves, before the model is loaded (a liveness probe)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="ready",
    summary="The model is loaded and the collections are open",
    responses=error_responses(503),
)
async def readyz(state: State) -> Ready:
    """200 once searches can be answered; 503 (with the reason) until then (a readiness probe)."""
    return await run_in_threadpool(readiness, state)


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **error_responses(401, 403)},
)
async def metrics(
    state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Response:
    """Request, search-stage, batching and collection metrics in the Prometheus text format. It names every
    collection with its counts, so with ``RAG_METRICS_REQUIRE_KEY`` (and keys configured) it needs a key
    that may read every collection (``"collections": "*"``)."""
    if state.settings.metrics_require_key:
        principal = state.keyring.authenticate(None if credentials is None else credentials.credentials)
        principal.require_role("read")
        if principal.collections is not None:
            raise ForbiddenError("/metrics names every collection: it needs a key for all collections ('*').")
    body = await run_in_threadpool(generate_latest, state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/v1/info",
    operation_id="info",
    summary="Models, width, fingerprint and versions",
    responses=error_responses(*AUTH_CODES, 503),
)
async def info(state: State, principal: Reader) -> Info:
    """What the server runs: its models, their embedding width, fingerprint, limits and versions."""
    return build_info(state)

"""The app factory: ``uvicorn api.app:create_app --factory`` (what ``rag serve`` runs).

``create_app()`` reads ``Settings()`` from the environment (``RAG_*``); tests pass settings (and may
inject an embedder). It refuses, by raising ``ConfigError`` before anything binds, to serve without API
keys on an address other than loopback (``RAG_HOST``) unless ``RAG_ALLOW_INSECURE_BIND`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI

from api.bindguard import LoopbackOnlyMiddleware
from api.bodytimeout import BodyTimeoutMiddleware
from api.errors import CatchAllMiddleware, install_error_handlers
from api.hotpath import SearchHotPath
from api.limits import BodyLimitMiddleware
from api.logredact import install_log_redaction
from api.mcp.http import mount_mcp
from api.metrics import MetricsMiddleware
from api.openapi_doc import install_openapi
from api.pages import install_pages
from api.routes import collections, context, documents, embeddings, health, jobs, models, search, tei
from api.state import AppState
from rag.embedding.base import Embedder
from rag.errors import ConfigError
from rag.settings import Settings

logger = logging.getLogger("api")

DESCRIPTION = """\
Retrieval on contextual chunk embeddings: add documents to collections, search them (binary + int8),
and embed texts with the wire formats of the hosted pplx-embed API and of OpenAI.

Errors answer `{"error": "...", "error_type": "..."}`; on the embeddings and models routes `error` is
OpenAI's error object (`{"message", "type", "param", "code"}`). With API keys configured, every route
but `/healthz`, `/readyz` and `/metrics` needs `Authorization: Bearer <key>`. `/mcp` serves the same
collections to MCP clients (streamable HTTP; see docs/api.md).
"""

TAGS = [
    {"name": "search", "description": "Query a collection."},
    {"name": "collections", "description": "Create, list and delete collections."},
    {"name": "documents", "description": "Add, read and delete documents."},
    {"name": "jobs", "description": "Background ingestion jobs."},
    {"name": "embeddings", "description": "Embeddings in the hosted pplx-embed and OpenAI formats; models."},
    {"name": "service", "description": "Health, readiness, metrics and build information."},
    {"name": "tei", "description": "text-embeddings-inference compatible embeddings (/embed, /info)."},
]


def package_version() -> str:
    try:
        return version("pplx-rag")
    except PackageNotFoundError:
        return "0+unknown"


def _configure_logging() -> None:
    """Make the service's own log lines visible when nobody configured logging (uvicorn does not)."""
    api_logger = logging.getLogger("api")
    if not api_logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     [api] %(message)s"))
        api_logger.addHandler(handler)
        api_logger.setLevel(logging.INFO)


def _settings_from_environment() -> Settings:
    no_overrides: dict[str, Any] = {}  # every field from RAG_* (mypy sees no defaults without a plugin)
    return Settings(**no_overrides)


def create_app(settings: Settings | None = None, *, embedder: Embedder | None = None) -> FastAPI:
    """Build the service. ``embedder`` replaces the configured model (tests, embedding the app)."""
    _configure_logging()
    install_log_redaction()  # keys in a query string never reach the access log
    settings = _settings_from_environment() if settings is None else settings
    try:
        state = AppState(settings, embedder=embedder)
    except ConfigError as exc:
        logger.error("%s", exc.message)
        raise

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            async with mcp_sessions.run():
                yield
        finally:
            await state.close()

    app = FastAPI(
        title="pplx-rag",
        version=package_version(),
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's docs pages load from a CDN; api.pages serves them offline
        redoc_url=None,
    )
    app.state.rag = state
    install_error_handlers(app)
    app.add_middleware(SearchHotPath, state=state)  # innermost: inside every middleware added below
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(CatchAllMiddleware)  # outermost of ours: metrics count the 500 first
    if not state.keyring.enabled and not settings.allow_insecure_bind:
        app.add_middleware(LoopbackOnlyMiddleware)  # the socket decides, not RAG_HOST (api/bindguard.py)
    for module in (search, context, collections, documents, jobs, embeddings, models, health, tei):
        app.include_router(module.router)
    mcp_sessions = mount_mcp(app, state, version=package_version())
    install_pages(app)
    install_openapi(app, keys_enabled=state.keyring.enabled)  # 400 listed; no bearer scheme without keys
    return app

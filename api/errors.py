"""One error body and one table from ``error_type`` to HTTP status.

Every error the service answers has the body ``{"error": <sentence>, "error_type": <stable id>}``:
``RagError``s raised anywhere below the routes, FastAPI's request validation, Starlette's 404/405 and
anything unexpected (a 500 ``internal_error`` whose body never carries the exception's text).

The OpenAI-compatible routes (``SdkErrorRoute``: the embeddings routes and ``/v1/models``) answer the same
errors with OpenAI's error object in ``error``, ``{"error": {"message", "type", "param", "code"},
"error_type"}``: the OpenAI SDK puts ``error.message`` in its exception only when ``error`` is an object
(else its exception says just "Error code: 422"), and the Perplexity SDK quotes the whole body.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.schemas import ErrorBody
from rag.errors import RagError

logger = logging.getLogger("api")

STATUS_BY_ERROR_TYPE: dict[str, int] = {
    "validation_error": 422,
    "not_found": 404,
    "method_not_allowed": 405,
    "unauthorized": 401,
    "forbidden": 403,
    "payload_too_large": 413,
    "busy": 429,
    "not_ready": 503,
    "model_load_error": 503,
    "conflict": 409,
    "fingerprint_mismatch": 409,
    "config_error": 500,
    "store_error": 500,
    "corrupt_store": 500,
    "embedding_error": 500,
    "internal_error": 500,
}

# Statuses Starlette raises by itself (unknown path, wrong method, oversized body) and their error types.
ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    422: "validation_error",
    429: "busy",
    503: "not_ready",
}

RETRY_AFTER_SECONDS = "1"

_DESCRIPTIONS = {
    401: "No API key, or an unknown one.",
    403: "The key lacks the role or the collection.",
    404: "No such collection, document, job or model.",
    400: "The body could not be parsed (e.g. a multipart upload without its boundary).",
    408: "The request body did not arrive in time (RAG_BODY_TIMEOUT_S).",
    409: "Conflicts with what is stored (exists already, or built by another model).",
    413: "Request body or upload over its limit.",
    422: "Invalid request.",
    429: "Too busy; retry after the Retry-After delay.",
    503: "Model or collections not loaded yet.",
}
AUTH_CODES = (401, 403)


class SdkErrorRoute(APIRoute):
    """A route whose error bodies hold OpenAI's error object (``route_class`` of the OpenAI-compatible
    routers); the handlers below see it as the request's matched route."""


def describe(code: int) -> str:
    """The OpenAPI description of an error status."""
    return _DESCRIPTIONS[code]


def error_responses(*codes: int, body: type[Any] = ErrorBody) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses, all with the one error body (or ``body``)."""
    return {code: {"model": body, "description": _DESCRIPTIONS[code]} for code in codes}


def _sdk_shaped(request: Request) -> bool:
    return isinstance(request.scope.get("route"), SdkErrorRoute)


def status_for(error_type: str) -> int:
    """The HTTP status of an error type; unknown types are internal errors."""
    return STATUS_BY_ERROR_TYPE.get(error_type, 500)


def error_response(
    message: str, error_type: str, *, status: int | None = None, sdk: bool = False
) -> JSONResponse:
    """The one error body (OpenAI's error object in ``error`` when ``sdk``), with ``WWW-Authenticate`` on
    401 and ``Retry-After`` on 429/503."""
    code = status_for(error_type) if status is None else status
    headers: dict[str, str] = {}
    if code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if code in (429, 503):
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    error: str | dict[str, str | None] = message
    if sdk:
        error = {"message": message, "type": error_type, "param": None, "code": error_type}
    return JSONResponse({"error": error, "error_type": error_type}, status_code=code, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems) if problems else "invalid request."


async def _rag_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RagError)
    code = status_for(exc.error_type)
    if code == 500:  # 503 (not ready) is expected while the model loads
        logger.error("%s on %s %s: %s", exc.error_type, request.method, request.url.path, exc.message)
    return error_response(exc.message, exc.error_type, status=code, sdk=_sdk_shaped(request))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(_describe_validation(exc), "validation_error", status=422, sdk=_sdk_shaped(request))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = ERROR_TYPE_BY_STATUS.get(exc.status_code, "internal_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed."
    response = error_response(message, error_type, status=exc.status_code, sdk=_sdk_shaped(request))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the first matching route's methods; a path has several
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes on this request's path."""
    methods: set[str] = set()
    pending = list(request.app.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)  # an included router kept as one entry
        if included is not None or getattr(route, "methods", None) is None and hasattr(route, "routes"):
            pending += list((included or route).routes)
            continue
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods - {"HEAD"} if "GET" not in methods else methods)


class CatchAllMiddleware:
    """Answers any exception that escapes the app with 500 ``internal_error``.

    The log gets the exception's type and stack, not its message (which may quote a document); and the
    exception stops here, so the server does not log it again in full.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            stack = "".join(traceback.format_tb(exc.__traceback__))
            logger.error(
                "unexpected %s on %s %s\n%s", type(exc).__name__, scope["method"], scope["path"], stack
            )
            if not started:
                # The router recorded the matched route in this same scope, so the shape follows it here too.
                sdk = isinstance(scope.get("route"), SdkErrorRoute)
                response = error_response("internal server error.", "internal_error", status=500, sdk=sdk)
                await response(scope, receive, send)


async def handled_error_response(request: Request, exc: RagError | StarletteHTTPException) -> JSONResponse:
    """What the app's handlers answer for ``exc`` (for ``api.hotpath``, which runs outside them)."""
    return await (_rag_error if isinstance(exc, RagError) else _http_error)(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the one body (unexpected ones: ``CatchAllMiddleware``)."""
    app.add_exception_handler(RagError, _rag_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

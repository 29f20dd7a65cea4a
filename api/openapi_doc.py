"""What FastAPI's generated OpenAPI document misses about this service, added once when it is built.

- **400** on every operation with a body: a body that cannot be parsed at all (a multipart upload without
  its boundary, a body FastAPI cannot read) answers 400 in the one error body, before validation (422).
  The 400 response reuses the operation's 422 body (so the OpenAI-shaped routes keep theirs).
- **Security only when keys are on**: without API keys nobody sends a bearer token, so the document
  declares no security scheme (clients and tool loaders would otherwise ask for a key that does not exist).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from api.errors import describe

BAD_BODY = 400


def install_openapi(app: FastAPI, *, keys_enabled: bool) -> None:
    """Build the document as FastAPI does, then amend it (once: FastAPI caches it on the app)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            amend(generate(), keys_enabled=keys_enabled)  # FastAPI keeps what it returns in openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def amend(document: dict[str, Any], *, keys_enabled: bool) -> None:
    for operation in _operations(document):
        responses = operation.setdefault("responses", {})
        if "requestBody" in operation and str(BAD_BODY) not in responses:
            shaped = responses.get("422", {}).get("content") or _error_body()
            responses[str(BAD_BODY)] = {"description": describe(BAD_BODY), "content": shaped}
        if not keys_enabled:
            operation.pop("security", None)
    if not keys_enabled:
        document.get("components", {}).pop("securitySchemes", None)


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    methods = ("get", "put", "post", "delete", "patch", "options", "head")
    return [op for path in document.get("paths", {}).values() for m, op in path.items() if m in methods]


def _error_body() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}

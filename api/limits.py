"""Request size limits, as a pure ASGI middleware.

A declared ``Content-Length`` over the limit is answered 413 before any of the body is read. A body
without one (chunked) is counted as it streams; the first chunk past the limit raises
``BodyTooLargeError`` (a 413 ``HTTPException``, which FastAPI's body parsing lets through to the error
handlers), so an oversized body is never read whole. Multipart uploads get their own, larger, limit.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.headers import header


class BodyTooLargeError(HTTPException):
    """The request body passed its limit while streaming."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over the limit of {limit} bytes.")


UPLOAD_ROUTE = re.compile(r"^/v1/collections/[^/]+/documents/?$")


class BodyLimitMiddleware:
    """413 for JSON bodies over ``max_body_bytes`` and multipart uploads over ``max_upload_bytes``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, scope: Scope) -> int:
        """The upload limit only where uploads are parsed as files (the documents route, which reads file
        parts alone); everywhere else the JSON limit, whatever the label says (a JSON body labelled
        multipart/form-data got the 64 MiB limit on every route)."""
        content_type = (header(scope, b"content-type") or b"").lower()
        is_upload = content_type.startswith(b"multipart/form-data")
        route = scope["method"] == "POST" and UPLOAD_ROUTE.match(scope["path"]) is not None
        return self.max_upload_bytes if is_upload and route else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(
                f"request body of {int(declared)} bytes is over the limit of {limit} bytes.",
                "payload_too_large",
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLargeError(limit)
        return message

    return counted

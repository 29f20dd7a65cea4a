"""``POST /v1/search`` answered below FastAPI's request machinery, as the innermost ASGI middleware.

A search's HTTP handling runs on the event loop's thread, which every request shares: at 8 clients over
1M chunks it held ~80 % of the GIL's samples, and ~40 % of that thread's time was FastAPI's own path
(exception and exit-stack layers, route matching, dependency solving, body parsing, the response's way
back through them) around a search that needs a header read, one ``json.loads`` and one model
validation. This middleware does just that for the request it can answer, inside every middleware of
ours (the loopback guard, the 500 catch-all, metrics, the body deadline and size limit still apply),
and hands everything else to the app unchanged:

- a request that is not ``POST /v1/search`` with a JSON body;
- a body that does not parse or validate, or a caller whose key fails: the app is handed the body it
  read and answers as it always does (the same 401/403/422 bodies), since checking is free of effects.

Errors raised once the search has started go through the app's own handlers (``api.errors``); the route
stays registered in FastAPI for the OpenAPI document. Tests hold the two paths' answers to each other.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Principal
from api.errors import handled_error_response
from api.headers import bearer_token, header
from api.routes.search import SEARCH_PATH, search_response, search_route
from api.schemas import SearchRequest
from api.searching import answer_search
from api.state import AppState
from rag.errors import RagError

JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")


class SearchHotPath:
    """Answers ``POST /v1/search`` itself when the body and the caller check out (see the module)."""

    def __init__(self, app: ASGIApp, *, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_json_search(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # the body's deadline or size limit (api.bodytimeout, api.limits)
            await _answer_error(scope, receive, send, exc)
            return
        if body is None:  # the client left before its body was in: nobody to answer
            return
        replay = _replaying(body, receive)
        checked = self._checked(scope, body)
        if checked is None:
            await self.app(scope, replay, send)
            return
        await self._search(scope, replay, send, *checked)

    def _checked(self, scope: Scope, body: bytes) -> tuple[Principal, SearchRequest] | None:
        """The caller and the request, or None where the app should judge them."""
        try:
            principal = self.state.keyring.authenticate(bearer_token(scope))
            principal.require_role("read")
        except RagError:
            return None
        request = _parsed(body)
        return None if request is None else (principal, request)

    async def _search(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, request: SearchRequest
    ) -> None:
        scope["route"] = search_route()  # the metrics label and the error shape follow the matched route
        try:
            answer = await answer_search(self.state, principal, request)
        except RagError as exc:
            await _answer_error(scope, receive, send, exc)
            return
        await search_response(answer)(scope, receive, send)


def _is_json_search(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SEARCH_PATH:
        return False
    content_type = header(scope, b"content-type")
    return content_type is not None and content_type.lower() in JSON_TYPES


def _parsed(body: bytes) -> SearchRequest | None:
    """The request as FastAPI would validate it (``json.loads``, then the model), or None."""
    try:
        data: Any = json.loads(body)
        return SearchRequest.model_validate(data)
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body already read, once, then the client's further messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _answer_error(scope: Scope, receive: Receive, send: Send, exc: RagError | HTTPException) -> None:
    response: Response = await handled_error_response(Request(scope, receive), exc)
    await response(scope, receive, send)

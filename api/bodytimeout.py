"""A deadline for reading a request's body, as a pure ASGI middleware.

A client that sends its head and then trickles (or stops sending) the body would hold its connection and
the request's task for as long as it likes. The clock starts at the first read of the body and covers
every chunk up to the last; past ``timeout_s`` the read raises a 408 ``HTTPException`` (answered with
``Connection: close``: the rest of the body is never read, so the connection cannot carry another
request). Reads after the body is complete (a route listening for the client's disconnect) are not timed.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTimeoutError(HTTPException):
    """The body did not arrive in time."""

    def __init__(self, timeout_s: float) -> None:
        detail = f"the request body did not arrive within {timeout_s:g} s."
        super().__init__(status_code=408, detail=detail, headers={"Connection": "close"})


class BodyTimeoutMiddleware:
    """408 when a request's body takes longer than ``timeout_s`` to arrive."""

    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, _timed(receive, self.timeout_s), send)


def _timed(receive: Receive, timeout_s: float) -> Receive:
    deadline: float | None = None
    complete = False

    async def timed() -> Message:
        nonlocal deadline, complete
        if complete:
            return await receive()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s if deadline is None else deadline
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyTimeoutError(timeout_s) from None
        complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return timed

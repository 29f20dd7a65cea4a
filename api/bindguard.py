"""Without API keys, answer only connections that arrived on a loopback address.

``create_app`` refuses to start without keys when ``RAG_HOST`` is not loopback, but uvicorn started by
hand (``uvicorn api.app:create_app --factory --host 0.0.0.0``) binds what its command line says, and the
app starts before uvicorn binds, so it cannot see the sockets then. Every connection does carry the
address it arrived on (ASGI ``scope["server"]``): this middleware checks that one, per request, and
answers 403 to a request that reached a non-loopback address of the machine while keys are off (unless
``RAG_ALLOW_INSECURE_BIND``). Loopback clients of the same server are still served.
"""

from __future__ import annotations

import ipaddress
import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("api")

REFUSED = (
    "this server has no API keys and answers only on loopback addresses; configure RAG_API_KEYS or "
    "RAG_API_KEYS_FILE, or RAG_ALLOW_INSECURE_BIND=true to serve unprotected."
)


def _outside(address: str) -> bool:
    """Whether a socket's local address is an IP beyond loopback. A real server's is always an IP; none
    (a Unix socket, local only) or a name (an in-process test client's "testserver") is not outside."""
    try:
        return not ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackOnlyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") if scope["type"] == "http" else None
        if server is None or not _outside(str(server[0])):
            await self.app(scope, receive, send)
            return
        if not self._warned:
            self._warned = True
            logger.error("refused a request on %s without API keys: bound beyond loopback", server[0])
        body = json.dumps({"error": REFUSED, "error_type": "forbidden"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})

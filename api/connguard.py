"""Connection guards uvicorn lacks: a deadline for the request head, and a bound on connections per client.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but once a byte of a request has
arrived it waits for the rest of the head forever, and a fresh connection that sends nothing is never
timed out at all: slow or silent clients each hold a connection (and its memory) for good. The protocol
classes here arm a timer when a connection opens and again after each response; if the next request's
head has not been parsed when it fires, the connection is closed. They also count open connections per
client address: one over ``RAG_MAX_CONNECTIONS_PER_CLIENT`` gets a 429 and is closed at once, so one
client cannot take every connection (uvicorn's ``limit_concurrency`` is global).

The body's read time is bounded by ``api.bodytimeout`` (an ASGI middleware, so it holds under any server).
``rag serve`` runs uvicorn with ``http="api.connguard:GuardedProtocol"``; the limits come from the
environment (``RAG_*``, as ``create_app`` reads them), read once per process.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from functools import cache
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from rag.settings import Settings

PROTOCOL_PATH = "api.connguard:GuardedProtocol"
REFUSED_LINGER_S = 1.0  # how long a refused connection may still send before it is closed
_open_by_client: Counter[str] = Counter()  # one event loop per server process: no lock needed


@cache
def _limits() -> tuple[float, int]:
    no_overrides: dict[str, Any] = {}  # every field from RAG_*
    settings = Settings(**no_overrides)
    return settings.header_timeout_s, settings.max_connections_per_client


def _refusal(limit: int) -> bytes:
    body = json.dumps(
        {"error": f"too many connections from this address (at most {limit}).", "error_type": "busy"}
    ).encode()
    head = (
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Guard(asyncio.Protocol):
    """The mixin, put before a uvicorn protocol class (its ``super()`` is that protocol): needs the
    protocol's ``transport``, ``client``, ``cycle`` and ``loop``."""

    transport: asyncio.Transport
    client: tuple[str, int] | None
    cycle: Any
    loop: asyncio.AbstractEventLoop
    _head_timer: asyncio.TimerHandle | None = None
    _counted: str | None = None
    refused = False

    def _admit(self) -> bool:
        """Count this connection against its client address; False (answered 429, closing) when over."""
        timeout, limit = _limits()
        address = self.client[0] if self.client else None
        if address is not None and _open_by_client[address] >= limit:
            self._refuse(limit)
            return False
        if address is not None:
            _open_by_client[address] += 1
            self._counted = address
        self._arm_head_timer(timeout)
        return True

    def _refuse(self, limit: int) -> None:
        """Answer 429 and half-close; what the client sends meanwhile is dropped (closing with its request
        unread would reset the connection, and the client could lose the answer), then close."""
        self.refused = True
        self.transport.write(_refusal(limit))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(REFUSED_LINGER_S, self.transport.close)

    def _release(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._counted is not None:
            _open_by_client[self._counted] -= 1
            if _open_by_client[self._counted] <= 0:
                del _open_by_client[self._counted]
            self._counted = None

    def _arm_head_timer(self, timeout: float | None = None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(timeout or _limits()[0], self._head_deadline)

    def _head_deadline(self) -> None:
        """Close the connection unless a request's head has arrived since the timer was armed (a request
        in progress); an idle one goes too (keep-alive is never longer than the head timeout)."""
        self._head_timer = None
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            super().data_received(data)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._admit()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]  # the uvicorn protocol's, next in the MRO
        if not self.transport.is_closing():
            self._arm_head_timer()


class GuardedH11Protocol(_Guard, H11Protocol):
    """uvicorn's h11 protocol with the guards."""


GuardedProtocol: type[asyncio.Protocol] = GuardedH11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the guards."""

    GuardedProtocol = GuardedHttpToolsProtocol  # uvicorn's "auto" prefers httptools too
except ImportError:  # pragma: no cover - httptools is optional for uvicorn
    pass

"""``/mcp`` in ``rag serve``: the MCP server over streamable HTTP, mounted in the FastAPI app.

Callers authenticate with the service's API keys as bearer tokens (any role may read; a key sees only
its collections), checked here before the SDK sees the request; the key's digest also becomes the MCP
session's owner, so a session cannot be used with another key. The SDK's DNS-rebinding protection checks
the ``Host`` (and ``Origin``) header against an allowlist: ``RAG_MCP_ALLOWED_HOSTS``, else loopback and
the address the server binds (``RAG_HOST``).
"""

from __future__ import annotations

from fastapi import FastAPI
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import KeyRing, sha256_hex
from api.errors import error_response
from api.headers import bearer_token
from api.mcp.server import PRINCIPAL_KEY, build_server
from api.state import AppState
from rag.errors import RagError
from rag.settings import Settings

MCP_PATH = "/mcp"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "[::]", "")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(settings: Settings) -> list[str] | None:
    """The ``Host`` values ``/mcp`` accepts (each name with and without a port); ``None``: no check."""
    if settings.mcp_allowed_hosts is not None:
        if "*" in settings.mcp_allowed_hosts:
            return None
        names = list(settings.mcp_allowed_hosts)
    else:
        names = list(LOOPBACK_HOSTS)
        if settings.host not in ANY_ADDRESS:
            names.append(_bracketed(settings.host))
    allowed: list[str] = []
    for name in dict.fromkeys(names):
        allowed += [name] if name.endswith(":*") else [name, f"{name}:*"]
    return allowed


def transport_security(settings: Settings) -> TransportSecuritySettings:
    hosts = allowed_hosts(settings)
    if hosts is None:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _bearer(scope: Scope) -> str | None:
    """The bearer token with surrounding spaces dropped, as ``/mcp`` has always read it."""
    token = bearer_token(scope)
    return (token.strip() or None) if token else None


class KeyAuthMiddleware:
    """Answers 401/403 with the service's error body unless the bearer token is a key that may read."""

    def __init__(self, app: ASGIApp, keyring: KeyRing) -> None:
        self.app = app
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _bearer(scope)
        try:
            principal = self.keyring.authenticate(token)
            principal.require_role("read")
        except RagError as exc:
            await error_response(exc.message, exc.error_type)(scope, receive, send)
            return
        owner = sha256_hex(token) if token and self.keyring.enabled else "anonymous"
        user = AuthenticatedUser(AccessToken(token="", client_id=owner, scopes=[principal.role]))
        await self.app({**scope, PRINCIPAL_KEY: principal, "user": user}, receive, send)


def mount_mcp(app: FastAPI, state: AppState, *, version: str = "") -> StreamableHTTPSessionManager:
    """Add ``/mcp`` to ``app``; the caller runs the returned session manager in the app's lifespan."""
    server = build_server(state, version=version)
    settings = state.settings
    server.streamable_http_app(
        streamable_http_path=MCP_PATH, transport_security=transport_security(settings), host=settings.host
    )
    manager = server.session_manager
    endpoint = KeyAuthMiddleware(StreamableHTTPASGIApp(manager), state.keyring)
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"]))
    return manager

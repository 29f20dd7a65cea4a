"""Request headers read straight from an ASGI scope (for the pure ASGI middlewares)."""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of ``Authorization: Bearer <token>``, read as FastAPI's ``HTTPBearer`` reads it (another
    scheme, or no token, is None)."""
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.decode("latin-1").partition(" ")
    return token if scheme.lower() == "bearer" and token else None

"""Dependencies the routes declare: the app's state, the caller and its rights.

``Reader``, ``Writer`` and ``Admin`` are the caller once its key holds that role; the
``*Collection`` aliases are a collection name from the path that the caller may also touch.

Every dependency here is ``async def``: none blocks, and FastAPI runs a plain ``def`` dependency on a
worker thread, a hop that cost ~0.4 ms each on a busy 2-vCPU box (three of them per request, more than
the search itself; measured with cProfile, bench/http_search.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, Role
from api.schemas import NAME_PATTERN
from api.state import AppState


def app_state(request: Request) -> AppState:
    state = request.app.state.rag
    assert isinstance(state, AppState)
    return state


async def get_state(request: Request) -> AppState:
    return app_state(request)


State = Annotated[AppState, Depends(get_state)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key as a bearer token; required whenever keys are configured.",
)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _with_role(role: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    """The caller, once its key holds ``role``: one dependency over the bearer scheme, where a separate
    caller dependency cost a further level of FastAPI's dependency solving on every request."""

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        token = None if credentials is None else credentials.credentials
        principal = app_state(request).keyring.authenticate(token)
        principal.require_role(role)
        return principal

    return dependency


Reader = Annotated[Principal, Depends(_with_role("read"))]
Writer = Annotated[Principal, Depends(_with_role("write"))]
Admin = Annotated[Principal, Depends(_with_role("admin"))]

PathName = Annotated[str, Path(pattern=NAME_PATTERN, description="A collection name.")]


async def _readable(name: PathName, principal: Reader) -> str:
    principal.require_collection(name)
    return name


async def _writable(name: PathName, principal: Writer) -> str:
    principal.require_collection(name)
    return name


async def _administrable(name: PathName, principal: Admin) -> str:
    principal.require_collection(name)
    return name


ReadableCollection = Annotated[str, Depends(_readable)]
WritableCollection = Annotated[str, Depends(_writable)]
AdminCollection = Annotated[str, Depends(_administrable)]

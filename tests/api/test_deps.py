"""The routes' dependencies run on the event loop: FastAPI sends a plain ``def`` dependency to a worker
thread, a hop per dependency per request (three per search, measured to cost more than the search)."""

from __future__ import annotations

import inspect
import typing

from fastapi.params import Depends

from api import deps


def _dependencies(alias: object) -> list[object]:
    return [meta.dependency for meta in typing.get_args(alias)[1:] if isinstance(meta, Depends)]


def test_every_dependency_of_the_routes_is_a_coroutine_function() -> None:
    aliases = [deps.State, deps.Reader, deps.Writer, deps.Admin]
    aliases += [deps.ReadableCollection, deps.WritableCollection, deps.AdminCollection]
    found = [dependency for alias in aliases for dependency in _dependencies(alias)]
    assert len(found) == 7
    for dependency in found:
        assert inspect.iscoroutinefunction(dependency), dependency

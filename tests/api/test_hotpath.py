"""``api.hotpath``: ``POST /v1/search`` answered below FastAPI gives what the FastAPI route gives.

Every request is sent twice to one app: through the full stack (where the hot path answers what it can),
then through the same stack built without it (FastAPI's route). Status, body (timings aside) and the
headers a client reads must match; a counter on the route tells which path answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

import api.routes.search as search_route
from api.app import create_app
from api.hotpath import SearchHotPath
from api.searching import answer_search
from rag.embedding.fake import HashEmbedder
from tests.api.conftest import KEY_CONFIG, bearer, make_settings

DOCS = [
    {"id": "travel", "text": "Travel exceptions are approved by the director.", "metadata": {"lang": "en"}},
    {"id": "keys", "text": "Rotate API keys every ninety days from the console.", "metadata": {"lang": "de"}},
]
JSON = {"content-type": "application/json"}
SEARCH = {"query": "who approves travel exceptions?", "collection": "default", "top_k": 2}
READER = bearer("reader")


def search(**changes: Any) -> bytes:
    return json.dumps({**SEARCH, **changes}).encode()


# (name, headers beyond the content type, raw body): every answer the route gives, good and bad
CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("hits", READER, search()),
    ("filter", READER, search(filter={"lang": "de"})),
    ("hybrid, fixed pool", READER, search(mode="hybrid", rescore_multiplier=5)),
    ("bm25", READER, search(mode="bm25")),
    ("no key", {}, search()),
    ("unknown key", {"Authorization": "Bearer not-a-key-0123456789"}, search()),
    ("basic scheme", {"Authorization": READER["Authorization"].replace("Bearer", "Basic")}, search()),
    ("other collection's key", bearer("other"), search()),
    ("no such collection", bearer("admin"), search(collection="missing")),
    ("top_k 0", READER, search(top_k=0)),
    ("unknown field", READER, search(limit=3)),
    ("bad filter", READER, search(filter={"lang": {"$near": 1}})),
    ("not json", READER, b"{query: travel"),
    ("a list", READER, b"[1, 2]"),
    ("empty body", READER, b""),
    ("not utf-8", READER, b'{"query": "\xff\xfe"}'),
]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", api_keys=SecretStr(json.dumps(KEY_CONFIG)))
    application = create_app(settings, embedder=HashEmbedder(64))
    with TestClient(application, raise_server_exceptions=False) as client:
        admin = bearer("admin")
        for name in ("default", "other"):
            assert client.post("/v1/collections", json={"name": name}, headers=admin).status_code == 201
        added = client.post("/v1/collections/default/documents", json={"documents": DOCS}, headers=admin)
        assert added.status_code == 201
        yield client


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the searches FastAPI's route ran (the hot path calls ``api.hotpath.answer_search``)."""
    calls: list[int] = []
    real = answer_search

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(search_route, "answer_search", counted)
    return calls


def _without_hot_path(app: Any) -> None:
    assert isinstance(app, FastAPI)
    app.user_middleware = [m for m in app.user_middleware if not _is_hot_path(m.cls)]
    app.middleware_stack = app.build_middleware_stack()


def _is_hot_path(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, SearchHotPath)


def _seen(response: Any) -> tuple[int, Any, dict[str, str | None]]:
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("timings"), dict):
        body["timings"] = sorted(body["timings"])  # the stages, not their times
    headers = {name: response.headers.get(name) for name in ("content-type", "www-authenticate")}
    headers["server-timing"] = "present" if "server-timing" in response.headers else None
    return response.status_code, body, headers


def test_both_paths_answer_alike(client: TestClient, route_calls: list[int]) -> None:
    hot = {name: _seen(client.post("/v1/search", content=raw, headers={**JSON, **extra}))
           for name, extra, raw in CASES}  # fmt: skip
    answered_by_route = len(route_calls)
    _without_hot_path(client.app)
    plain = {name: _seen(client.post("/v1/search", content=raw, headers={**JSON, **extra}))
             for name, extra, raw in CASES}  # fmt: skip
    for name, _, _ in CASES:
        assert hot[name] == plain[name], name
    statuses = {name: hot[name][0] for name, _, _ in CASES}
    assert statuses["hits"] == 200 and [h["document_id"] for h in hot["hits"][1]["hits"]][0] == "travel"
    assert statuses["filter"] == 200 and {h["document_id"] for h in hot["filter"][1]["hits"]} == {"keys"}
    assert statuses["no key"] == statuses["unknown key"] == statuses["basic scheme"] == 401
    assert (statuses["other collection's key"], statuses["no such collection"]) == (403, 404)
    assert statuses["top_k 0"] == statuses["not json"] == statuses["empty body"] == 422
    # the hot path ran every search (the route got only the key and body failures, which it answers before
    # its endpoint); without it the route ran the 7 that pass those checks (4 hits, then 403, 404, 422)
    assert answered_by_route == 0
    assert len(route_calls) == 7


def test_other_json_spellings_and_bodies_go_to_the_route(client: TestClient, route_calls: list[int]) -> None:
    types = ("application/json;charset=utf-8", "application/vnd.search+json", "text/plain")
    answers = [
        client.post("/v1/search", content=search(), headers={"content-type": t, **READER}) for t in types
    ]
    assert [a.status_code for a in answers] == [200, 200, 422]  # FastAPI reads only JSON types
    assert client.post("/v1/search", content=search(), headers={**JSON, **READER}).status_code == 200
    assert len(route_calls) == 2


def test_hot_path_requests_are_counted_under_the_route(client: TestClient) -> None:
    for _ in range(3):
        client.post("/v1/search", content=search(), headers={**JSON, **READER})
    client.post("/v1/search", content=search(collection="missing"), headers={**JSON, **bearer("admin")})
    text = client.get("/metrics").text
    lines = [line for line in text.splitlines() if line.startswith("rag_http_requests_total{")]
    lines = [line for line in lines if 'route="/v1/search"' in line]
    assert any('status="200"' in line and line.endswith(" 3.0") for line in lines), lines
    assert any('status="404"' in line and line.endswith(" 1.0") for line in lines), lines


def test_the_body_limit_still_applies(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", max_body_bytes=1024)
    with TestClient(create_app(settings, embedder=HashEmbedder(64)), raise_server_exceptions=False) as client:
        assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
        big = search(query="x" * 2000)
        declared = client.post("/v1/search", content=big, headers=JSON)

        def chunked() -> Iterator[bytes]:
            yield big

        streamed = client.post("/v1/search", content=chunked(), headers=JSON)
    assert declared.status_code == streamed.status_code == 413
    assert streamed.json()["error_type"] == "payload_too_large"

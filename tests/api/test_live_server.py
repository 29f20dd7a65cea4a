"""Against a real uvicorn process on loopback: ingest, search, delete, jobs, keys, limits, bind refusal."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import KEYS, LiveServer, free_port, server_env, uvicorn_command
from tests.conftest import REPO_ROOT

DOCS: list[dict[str, Any]] = [
    {
        "id": "keys",
        "text": "Rotate API keys every ninety days; old keys expire a day later.",
        "metadata": {"n": 1},
    },
    {"id": "refunds", "text": "Refunds are paid within thirty days of a purchase.", "metadata": {"n": 2}},
    {"id": "holidays", "text": "The office closes on public holidays and the last week of December."},
]


def test_ingest_search_read_and_delete_through_the_api(live_server: LiveServer) -> None:
    with live_server.client("writer") as writer, live_server.client("reader") as reader:
        added = writer.post("/v1/collections/default/documents", json={"documents": DOCS})
        assert added.status_code == 201, added.text
        assert {o["id"]: o["status"] for o in added.json()["outcomes"]} == {d["id"]: "added" for d in DOCS}

        found = reader.post("/v1/search", json={"query": "rotate API keys", "top_k": 2})
        assert found.status_code == 200
        assert found.json()["hits"][0]["document_id"] == "keys"
        assert "hamming;dur=" in found.headers["server-timing"]

        document = reader.get("/v1/collections/default/documents/refunds").json()
        assert document["chunks"][0]["text"] == DOCS[1]["text"]

        assert writer.delete("/v1/collections/default/documents/keys").status_code == 200
        assert reader.get("/v1/collections/default/documents/keys").status_code == 404
        hits = reader.post("/v1/search", json={"query": "rotate API keys"}).json()["hits"]
        assert "keys" not in {hit["document_id"] for hit in hits}


def _wait_for_job(client: httpx.Client, url: str, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, object] = client.get(url).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {url} did not finish")


def test_large_request_runs_as_a_background_job(live_server: LiveServer) -> None:
    documents = [{"id": f"job-{i}", "text": f"note {i} about the quarterly report"} for i in range(10)]
    with live_server.client("writer") as writer:
        accepted = writer.post("/v1/collections/default/documents", json={"documents": documents})
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["location"] == accepted.json()["url"]
        job = _wait_for_job(writer, accepted.json()["url"])
    assert job["status"] == "succeeded"
    assert job["done"] == job["total"] == 10
    result = job["result"]
    assert isinstance(result, dict) and result["added"] == 10
    assert {o["status"] for o in result["outcomes"]} == {"added"}


AUTH_MATRIX = [
    # (role, method, path, body, status)
    (None, "POST", "/v1/search", {"query": "x"}, 401),
    ("wrong", "POST", "/v1/search", {"query": "x"}, 401),
    ("reader", "POST", "/v1/search", {"query": "x"}, 200),
    ("reader", "POST", "/v1/search", {"query": "x", "collection": "other"}, 403),
    ("reader", "POST", "/v1/collections/default/documents", {"documents": [{"text": "x"}]}, 403),
    ("reader", "DELETE", "/v1/collections/default/documents/nothing", None, 403),
    ("writer", "POST", "/v1/collections/other/documents", {"documents": [{"text": "x"}]}, 403),
    ("writer", "DELETE", "/v1/collections/default/documents/nothing", None, 404),
    ("writer", "POST", "/v1/collections", {"name": "new-one"}, 403),
    ("writer", "DELETE", "/v1/collections/default", None, 403),
    ("other", "GET", "/v1/collections/default/documents/keys", None, 403),
    ("other", "POST", "/v1/collections", {"name": "not-mine"}, 403),
    ("other", "POST", "/v1/search", {"query": "x", "collection": "other"}, 200),
    ("reader", "POST", "/v1/embeddings", {"input": "x", "model": "fake:64"}, 200),
    (None, "POST", "/v1/embeddings", {"input": "x", "model": "fake:64"}, 401),
    (None, "GET", "/v1/info", None, 401),
    (None, "GET", "/healthz", None, 200),
    (None, "GET", "/readyz", None, 200),
    (None, "GET", "/metrics", None, 200),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "status"), AUTH_MATRIX)
def test_auth_matrix(
    live_server: LiveServer, role: str | None, method: str, path: str, body: object, status: int
) -> None:
    headers = {"Authorization": "Bearer not-a-key"} if role == "wrong" else {}
    headers |= {"Authorization": f"Bearer {KEYS[role]}"} if role in KEYS else {}
    response = httpx.request(method, live_server.url + path, json=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    if status >= 400:
        assert set(response.json()) == {"error", "error_type"}
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_listing_shows_only_the_collections_a_key_may_touch(live_server: LiveServer) -> None:
    with live_server.client("reader") as reader, live_server.client("admin") as admin:
        assert [c["name"] for c in reader.get("/v1/collections").json()["collections"]] == ["default"]
        assert {"default", "other"} <= {c["name"] for c in admin.get("/v1/collections").json()["collections"]}


def _chunks(size: int, piece: int = 8192) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        yield b" " * min(piece, size - sent)
        sent += piece


def test_oversized_bodies_get_413_and_the_server_stays_up(live_server: LiveServer) -> None:
    big = {"query": "x" * (80 * 1024)}
    with live_server.client("admin") as admin:
        declared = admin.post("/v1/search", json=big)
        assert declared.status_code == 413
        assert declared.json()["error_type"] == "payload_too_large"
        # No Content-Length: counted while it streams.
        streamed = admin.post(
            "/v1/search", content=_chunks(200 * 1024), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        upload = admin.post(
            "/v1/collections/default/documents", files={"files": ("big.txt", b"word " * 60_000)}
        )
        assert upload.status_code == 413
        assert admin.get("/healthz").status_code == 200
        assert admin.post("/v1/search", json={"query": "refunds"}).status_code == 200
    assert live_server.process.poll() is None


def test_metrics_count_requests_by_route_template(live_server: LiveServer) -> None:
    with live_server.client("reader") as reader:
        reader.get("/v1/collections/default/documents/refunds")
        text = httpx.get(live_server.url + "/metrics").text
    assert 'route="/v1/collections/{name}/documents/{doc_id}"' in text
    assert 'rag_collection_documents{collection="default"}' in text
    assert "rag_search_stage_seconds_bucket" in text


def test_refuses_to_serve_on_all_interfaces_without_keys(tmp_path: Path) -> None:
    # RAG_HOST is what `rag serve` passes; uvicorn itself stays on loopback should the check fail.
    env = server_env(tmp_path, RAG_HOST="0.0.0.0")
    done = subprocess.run(
        uvicorn_command(free_port()), cwd=REPO_ROOT, env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert b"refusing to serve on 0.0.0.0 without API keys" in done.stderr

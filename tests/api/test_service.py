"""Health, readiness, build information and metrics: what operators and probes read."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from rag.store.collection import DB_FILE
from tests.api.conftest import make_settings


def test_health_ready_and_info(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model": "fake:64", "collections": 1}
    info = client.get("/v1/info").json()
    assert info["models"] == {"document": "fake:64", "query": "fake:64"}
    assert info["dimensions"] == 64 and info["fingerprint"] == HashEmbedder(64).fingerprint.to_dict()
    assert {"python", "fastapi", "numpy", "pplx-rag"} <= set(info["versions"])
    assert info["auth"] is False and info["limits"]["background_job_threshold"] == 8


def test_each_app_has_its_own_metrics_registry(tmp_path: Path) -> None:
    apps = [create_app(make_settings(tmp_path / str(i)), embedder=HashEmbedder(64)) for i in range(2)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for _ in range(3):
            first.get("/healthz")
        line = 'rag_http_requests_total{method="GET",route="/healthz",status="200"}'
        assert f"{line} 3.0" in first.get("/metrics").text
        assert line not in second.get("/metrics").text
        assert second.get("/metrics").headers["content-type"].startswith("text/plain")


def test_unexpected_errors_are_counted_as_500(client: TestClient) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    client.app.add_api_route("/crash", crash)  # type: ignore[attr-defined]
    assert client.get("/crash").status_code == 500
    assert 'route="/crash",status="500"' in client.get("/metrics").text


def test_still_ready_when_a_collection_cannot_be_opened(tmp_path: Path) -> None:
    # A corrupt collection is a lasting fault of one database, not of the instance: a 503 would take every
    # healthy collection out of a load balancer's rotation (and with it the DELETE that repairs it). It is
    # reported instead by the listing and by its own routes (500 corrupt_store).
    app = create_app(make_settings(tmp_path), embedder=HashEmbedder(64))
    with TestClient(app) as client:
        client.post("/v1/collections", json={"name": "broken"})
        app.state.rag.library.close()
        (tmp_path / "collections" / "broken" / DB_FILE).write_bytes(b"not a database" * 100)
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()["collections"]) == (200, 1)
        assert client.get("/metrics").status_code == 200

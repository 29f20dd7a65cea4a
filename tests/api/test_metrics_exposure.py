"""With keys on, ``/metrics`` can require a key for every collection (``RAG_METRICS_REQUIRE_KEY``), and
``/readyz`` never names a collection (issue 15.13)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from tests.api.conftest import KEY_CONFIG, bearer, make_settings


def keyed_client(data: Path, **settings: object) -> TestClient:
    values = make_settings(data, api_keys=SecretStr(json.dumps(KEY_CONFIG)), **settings)
    return TestClient(create_app(values, embedder=HashEmbedder(64)), raise_server_exceptions=False)


def test_metrics_require_a_key_for_all_collections_when_configured(tmp_path: Path) -> None:
    with keyed_client(tmp_path / "data", metrics_require_key=True) as client:
        assert (
            client.post("/v1/collections", json={"name": "secret-plans"}, headers=bearer("admin")).status_code
            == 201
        )
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer("reader")).status_code == 403  # only "default"
        scrape = client.get("/metrics", headers=bearer("admin"))
        assert scrape.status_code == 200 and 'collection="secret-plans"' in scrape.text


def test_metrics_stay_open_by_default(tmp_path: Path) -> None:
    with keyed_client(tmp_path / "data") as client:
        assert client.get("/metrics").status_code == 200


def test_readyz_never_names_a_collection(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with keyed_client(data) as client:
        assert (
            client.post("/v1/collections", json={"name": "secret-plans"}, headers=bearer("admin")).status_code
            == 201
        )
        assert "secret-plans" not in client.get("/readyz").text
        (data / "collections" / "secret-plans" / "collection.db").write_bytes(b"garbage" * 1000)
        client.app.state.rag.library.close()  # type: ignore[attr-defined]
        ready = client.get("/readyz")
        assert "secret-plans" not in ready.text, ready.text

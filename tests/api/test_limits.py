"""Body and upload limits: 413 from Content-Length alone, or while a body without one streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from tests.api.conftest import make_settings


@pytest.fixture
def small_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, max_body_bytes=2048, max_upload_bytes=4096)
    with TestClient(create_app(settings, embedder=HashEmbedder(64)), raise_server_exceptions=False) as client:
        assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
        yield client


def _stream(total: int) -> Iterator[bytes]:
    for _ in range(total // 512):
        yield b" " * 512


def test_declared_length_over_the_limit_is_refused_before_reading(small_client: TestClient) -> None:
    response = small_client.post("/v1/search", json={"query": "x" * 4000})
    assert response.status_code == 413
    assert response.json()["error_type"] == "payload_too_large"
    assert "2048" in response.json()["error"]


def test_streamed_body_over_the_limit_is_refused(small_client: TestClient) -> None:
    response = small_client.post(
        "/v1/search", content=_stream(8192), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_a_body_within_the_limit_passes(small_client: TestClient) -> None:
    assert small_client.post("/v1/search", json={"query": "x" * 1000}).status_code == 200


def test_uploads_have_their_own_larger_limit(small_client: TestClient) -> None:
    url = "/v1/collections/default/documents"
    fits = small_client.post(url, files={"files": ("a.txt", b"words " * 500)})  # 3000 bytes > body limit
    assert fits.status_code == 201, fits.text
    too_big = small_client.post(url, files={"files": ("b.txt", b"words " * 1000)})
    assert too_big.status_code == 413

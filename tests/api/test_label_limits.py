"""The body limit follows what the route parses, not the Content-Type label: only the documents upload
route reads multipart files under the larger upload limit (issue 15.17)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from tests.api.conftest import make_settings

BODY_LIMIT, UPLOAD_LIMIT = 4096, 64 * 1024


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", max_body_bytes=BODY_LIMIT, max_upload_bytes=UPLOAD_LIMIT)
    with TestClient(create_app(settings, embedder=HashEmbedder(64)), raise_server_exceptions=False) as client:
        assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
        yield client


@pytest.mark.parametrize("path", ["/v1/search", "/v1/collections", "/v1/embeddings"])
def test_json_labelled_multipart_keeps_the_json_limit(small: TestClient, path: str) -> None:
    body = json.dumps({"query": "x" * (BODY_LIMIT * 4), "name": "n", "input": "x"})
    response = small.post(path, content=body, headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413, response.text
    assert response.json()["error_type"] == "payload_too_large"


def test_real_uploads_still_get_the_upload_limit(small: TestClient) -> None:
    text = ("Green tea is steeped at eighty degrees. " * 400).encode()  # 16 KB: over the JSON limit
    files = {"file": ("tea.txt", text, "text/plain")}
    response = small.post("/v1/collections/default/documents", files=files)
    assert response.status_code in (200, 201, 202), response.text

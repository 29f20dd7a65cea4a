"""A 405 says which methods the path takes in ``Allow`` (issue 15.11, in part)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_405_lists_the_allowed_methods(client: TestClient) -> None:
    response = client.put("/v1/search", json={})
    assert response.status_code == 405
    assert response.json()["error_type"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"
    collection = client.patch("/v1/collections/default")
    assert collection.status_code == 405
    assert set(collection.headers["Allow"].split(", ")) == {"GET", "DELETE"}

"""The OpenAPI document states what the service does (issue 15.11): the 400 an unparseable body gets is
listed on every operation that takes a body; ``dimensions`` has an upper bound; a bearer scheme is declared
only when API keys are configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.wire import MAX_DIMENSIONS
from tests.api.conftest import KEY_CONFIG, bearer, make_settings

METHODS = ("get", "put", "post", "delete", "patch")


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_no_security_scheme_without_keys(client: TestClient) -> None:
    document = _document(client)
    assert "securitySchemes" not in document.get("components", {})
    assert [name for name, op in _operations(document).items() if "security" in op] == []


def test_the_bearer_scheme_is_declared_when_keys_are_on(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_keys=SecretStr(json.dumps(KEY_CONFIG)))
    with TestClient(create_app(settings)) as keyed:
        document = keyed.get("/openapi.json", headers=bearer("reader")).json()
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert _operations(document)["post /v1/search"]["security"] == [{"ApiKey": []}]


def test_every_operation_with_a_body_lists_400_and_a_malformed_upload_gets_it(client: TestClient) -> None:
    operations = _operations(_document(client))
    with_body = {name: op for name, op in operations.items() if "requestBody" in op}
    assert "post /v1/collections/{name}/documents" in with_body and "post /v1/search" in with_body
    missing = [name for name, op in with_body.items() if "400" not in op["responses"]]
    assert missing == []
    add = with_body["post /v1/collections/{name}/documents"]["responses"]["400"]
    assert add["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    answer = client.post(
        "/v1/collections/default/documents", content=b"abc", headers={"Content-Type": "multipart/form-data"}
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "error_type"}


def test_dimensions_has_an_upper_bound(client: TestClient) -> None:
    schemas = _document(client)["components"]["schemas"]
    for name in ("EmbeddingsRequest", "ContextualizedEmbeddingsRequest", "TeiEmbedRequest"):
        [bounded] = [
            option
            for option in schemas[name]["properties"]["dimensions"]["anyOf"]
            if option.get("type") == "integer"
        ]
        assert bounded.get("maximum") == MAX_DIMENSIONS, name
    refused = client.post(
        "/v1/embeddings", json={"model": "fake", "input": "x", "dimensions": MAX_DIMENSIONS + 1}
    )
    assert refused.status_code == 422

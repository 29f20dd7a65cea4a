"""Schemathesis against the live server's ``/openapi.json``: no generated request gets a 5xx.

One test per operation (labels from the app's own schema), each drawing ``MAX_EXAMPLES`` valid and
invalid requests with Hypothesis and sending them to a real uvicorn process with an admin key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.app import create_app
from rag.embedding.fake import HashEmbedder
from tests.api.conftest import LiveServer, bearer, keyed_server, make_settings, stop_server

MAX_EXAMPLES = 20


def _operation_labels() -> list[str]:
    spec = create_app(make_settings(Path("unused")), embedder=HashEmbedder(64)).openapi()
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: the fuzzer creates and deletes collections and documents at random."""
    server = keyed_server(tmp_path_factory.mktemp("fuzz-data"))
    with server.client("admin") as admin:
        documents = [{"id": f"d{i}", "text": f"document {i} about fuzzing"} for i in range(3)]
        assert (
            admin.post("/v1/collections/default/documents", json={"documents": documents}).status_code == 201
        )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def api_schema(fuzz_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


@pytest.mark.parametrize("label", _operation_labels())
def test_no_request_gets_a_server_error(api_schema: schemathesis.BaseSchema, label: str) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=bearer("admin"), checks=[not_a_server_error], timeout=30)

    check()


def test_the_server_outlived_the_fuzzing(fuzz_server: LiveServer) -> None:
    assert httpx.get(f"{fuzz_server.url}/healthz").status_code == 200
    log = Path(fuzz_server.log).read_bytes()
    assert b"Traceback" not in log and b"unexpected" not in log


def test_openapi_documents_examples_and_the_bearer_scheme(fuzz_server: LiveServer) -> None:
    document = httpx.get(f"{fuzz_server.url}/openapi.json").json()
    components = document["components"]
    assert components["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    for name in ("SearchRequest", "CollectionCreate", "EmbeddingsRequest", "ContextualizedEmbeddingsRequest"):
        assert components["schemas"][name]["examples"], name
    add = document["paths"]["/v1/collections/{name}/documents"]["post"]
    assert set(add["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert add["requestBody"]["content"]["application/json"]["schema"]["examples"]

"""One error body and one status table, for domain errors, FastAPI's own errors and surprises."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.errors import STATUS_BY_ERROR_TYPE, status_for
from rag import errors

DOMAIN_ERRORS = [
    (errors.InvalidInputError, 422),
    (errors.SeparatorInChunkError, 422),
    (errors.CollectionNotFoundError, 404),
    (errors.DocumentNotFoundError, 404),
    (errors.JobNotFoundError, 404),
    (errors.UnauthorizedError, 401),
    (errors.ForbiddenError, 403),
    (errors.BusyError, 429),
    (errors.StoreLockedError, 429),
    (errors.NotReadyError, 503),
    (errors.CollectionExistsError, 409),
    (errors.FingerprintMismatchError, 409),
    (errors.StoreError, 500),
    (errors.EmbeddingError, 500),
    (errors.RagError, 500),
]


@pytest.mark.parametrize(("error", "status"), DOMAIN_ERRORS)
def test_each_domain_error_answers_its_status_with_the_one_body(
    client: TestClient, error: type[errors.RagError], status: int
) -> None:
    def fail() -> None:
        raise error("what went wrong, and what to do.")

    client.app.add_api_route("/boom", fail)  # type: ignore[attr-defined]
    response = client.get("/boom")
    assert response.status_code == status
    assert response.json() == {"error": "what went wrong, and what to do.", "error_type": error.error_type}


def test_every_error_type_of_the_tree_has_a_status() -> None:
    def subclasses(cls: type[errors.RagError]) -> list[type[errors.RagError]]:
        return [cls] + [s for sub in cls.__subclasses__() for s in subclasses(sub)]

    assert {cls.error_type for cls in subclasses(errors.RagError)} <= set(STATUS_BY_ERROR_TYPE)
    assert status_for("never-heard-of-it") == 500


def test_unexpected_exceptions_are_500_without_details(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    document_text = "secret " + "internals"

    def crash() -> None:
        raise RuntimeError(document_text)

    client.app.add_api_route("/crash", crash)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR):
        response = client.get("/crash")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error.", "error_type": "internal_error"}
    assert "secret internals" not in response.text
    assert "RuntimeError on GET /crash" in caplog.text and "in crash" in caplog.text
    assert "secret internals" not in caplog.text  # the message may quote a document: type and stack only


def test_framework_errors_use_the_same_body(client: TestClient) -> None:
    unknown = client.get("/v1/nothing-here")
    assert (unknown.status_code, unknown.json()["error_type"]) == (404, "not_found")
    wrong_method = client.put("/v1/search")
    assert (wrong_method.status_code, wrong_method.json()["error_type"]) == (405, "method_not_allowed")
    invalid = client.post("/v1/search", json={"query": "x", "top_k": 0})
    assert invalid.status_code == 422
    assert invalid.json()["error_type"] == "validation_error"
    assert "top_k" in invalid.json()["error"]
    not_json = client.post("/v1/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (not_json.status_code, not_json.json()["error_type"]) == (422, "validation_error")


def test_busy_and_not_ready_say_when_to_retry(client: TestClient) -> None:
    def busy() -> None:
        raise errors.BusyError("too many queries waiting.")

    client.app.add_api_route("/busy", busy)  # type: ignore[attr-defined]
    assert client.get("/busy").headers["retry-after"] == "1"

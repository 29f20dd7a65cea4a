"""``limit`` and ``offset`` of the document listing are bounded in the schema: a huge offset is a 422,
never a 500 from SQLite's 64-bit integers (issue 15.10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.documents import MAX_OFFSET
from rag.errors import InvalidInputError
from rag.store import Library

URL = "/v1/collections/default/documents"


@pytest.mark.parametrize("offset", [2**63, 2**64, MAX_OFFSET + 1])
def test_huge_offset_is_422(client: TestClient, offset: int) -> None:
    response = client.get(URL, params={"offset": offset})
    assert response.status_code == 422, response.text
    assert response.json()["error_type"] == "validation_error"


def test_largest_offset_answers_an_empty_page(client: TestClient) -> None:
    assert client.get(URL, params={"offset": MAX_OFFSET}).json() == {"documents": []}


def test_bounds_are_in_the_openapi_schema(client: TestClient) -> None:
    parameters = client.get("/openapi.json").json()["paths"][URL.replace("default", "{name}")]["get"][
        "parameters"
    ]
    schema = {p["name"]: p["schema"] for p in parameters}
    assert schema["offset"]["maximum"] == MAX_OFFSET and schema["limit"]["maximum"] == 1000


def test_store_refuses_offsets_sqlite_cannot_hold(tmp_path: Path, client: TestClient) -> None:
    library = Library(client.app.state.rag.settings.data_dir)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError):
        library.open_collection("default").list_documents(offset=2**63)
    library.close()

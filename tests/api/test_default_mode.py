"""The default search mode of the API is ``hybrid`` (``rag.types.DEFAULT_SEARCH_MODE``): in the request
schema, in the OpenAPI document a real server publishes, and in what a search without ``mode`` runs."""

from __future__ import annotations

from api.schemas import SearchRequest
from rag.types import DEFAULT_SEARCH_MODE, SearchMode
from tests.api.conftest import LiveServer

DOCS = [
    {"id": "default-mode-a", "text": "Quokkas live on Rottnest Island near Perth."},
    {"id": "default-mode-b", "text": "Wombats dig burrows in the forests of Tasmania."},
]


def test_schema_default_is_hybrid() -> None:
    assert DEFAULT_SEARCH_MODE is SearchMode.HYBRID
    assert SearchRequest(query="x").mode is SearchMode.HYBRID


def test_openapi_and_a_search_without_mode_use_hybrid(live_server: LiveServer) -> None:
    with live_server.client("writer") as writer, live_server.client("reader") as reader:
        schema = reader.get("/openapi.json").json()
        mode = schema["components"]["schemas"]["SearchRequest"]["properties"]["mode"]
        assert mode["default"] == "hybrid"
        added = writer.post("/v1/collections/default/documents", json={"documents": DOCS})
        assert added.status_code == 201, added.text
        plain = reader.post("/v1/search", json={"query": "quokkas on Rottnest", "top_k": 3}).json()
        assert plain["mode"] == "hybrid"
        assert plain["hits"][0]["document_id"] == "default-mode-a"
        assert "lexical" in plain["timings"] and "hamming" in plain["timings"]
        dense = reader.post(
            "/v1/search", json={"query": "quokkas on Rottnest", "top_k": 3, "mode": "binary+int8"}
        ).json()
        assert dense["mode"] == "binary+int8"  # the other modes stay available

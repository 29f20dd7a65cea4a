"""NaN and Infinity in metadata are refused on every surface (API 422, a named JSON Lines and pipeline
failure, the store's InvalidInputError), so filtered searches of the collection keep working."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.loaders import SourceDocument, load_bytes
from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.fake import HashEmbedder
from rag.errors import InvalidInputError
from rag.search import Searcher
from rag.store import Library
from rag.types import ChunkRecord, DocumentRecord

URL = "/v1/collections/default/documents"
LITERALS = ["NaN", "Infinity", "-Infinity", "1e999"]


@pytest.mark.parametrize("literal", LITERALS)
def test_api_refuses_non_finite_metadata_and_filters_keep_working(client: TestClient, literal: str) -> None:
    body = '{"documents": [{"id": "bad", "text": "some text", "metadata": {"score": LITERAL}}]}'
    body = body.replace("LITERAL", literal)
    refused = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error_type"] == "validation_error"
    assert "NaN" in refused.json()["error"]
    added = client.post(URL, json={"documents": [{"id": "ok", "text": "some text", "metadata": {"k": 1}}]})
    assert added.status_code == 201
    search = client.post("/v1/search", json={"query": "text", "filter": {"k": 1}})
    assert search.status_code == 200, search.text
    assert [hit["document_id"] for hit in search.json()["hits"]] == ["ok"]


@pytest.mark.parametrize("literal", LITERALS)
def test_jsonl_line_with_non_finite_number_is_a_named_failure(literal: str) -> None:
    line = b'{"id": "b", "text": "x", "metadata": {"v": ' + literal.encode() + b"}}\n"
    loaded = load_bytes("docs.jsonl", b'{"id": "a", "text": "fine"}\n' + line)
    assert [document.id for document in loaded.documents] == ["a"]
    [failure] = loaded.failures
    assert failure.name == "docs.jsonl:2"
    assert "invalid JSON" in failure.reason and "NaN and Infinity are not JSON numbers" in failure.reason


def test_pipeline_fails_each_such_document_by_id_and_writes_the_others(tmp_path: Path) -> None:
    library = Library(tmp_path)
    embedder = HashEmbedder(32)
    bad = [float("nan"), float("inf"), float("-inf")]
    documents = [
        SourceDocument(id="good", text="good text", metadata={"year": 2020}),
        *[SourceDocument(id=f"bad{i}", text="bad text", metadata={"v": [v]}) for i, v in enumerate(bad)],
    ]
    summary = Ingestor(library, embedder, IngestOptions()).ingest(documents, collection="c")
    assert (summary.added, summary.failed) == (1, 3)
    assert {failure.name for failure in summary.failures} == {"bad0", "bad1", "bad2"}
    assert all("NaN" in failure.reason for failure in summary.failures)
    result = Searcher(library.open_collection("c"), embedder).search("text", filter={"year": 2020})
    assert [hit.document_id for hit in result.hits] == ["good"]
    library.close()


def test_store_refuses_non_finite_metadata_before_writing(tmp_path: Path) -> None:
    library = Library(tmp_path)
    embedder = HashEmbedder(8)
    collection = library.create_collection("c", fingerprint=IngestOptions().fingerprint(embedder.fingerprint))
    chunk = ChunkRecord(ordinal=0, text="t", char_start=0, char_end=1, token_count=1)
    record = DocumentRecord(id="d", text="t", content_hash="h", metadata={"x": float("nan")})
    with pytest.raises(InvalidInputError, match="NaN"):
        collection.upsert_documents([(record, [chunk], embedder.embed_documents([["t"]])[0])])
    assert collection.info().documents == 0
    library.close()

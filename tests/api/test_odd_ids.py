"""Odd ids (issue 15.15): NUL in an id, a title or a metadata key, and ids with ``.``/``..`` path segments
(which URLs resolve, so they could be stored but never read or deleted through the API), are refused the
same way on every surface: the API (422 for JSON documents, a failed outcome for an uploaded file), JSON
Lines and folder ingestion (named failures), and the store (``InvalidInputError``). Ids that merely
contain dots are kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.loaders import SourceDocument, load_bytes
from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.fake import HashEmbedder
from rag.errors import InvalidInputError
from rag.ids import check_document_id, id_problem
from rag.store import Library
from rag.types import ChunkRecord, DocumentRecord
from tests.ingest.cli import json_out, rag
from tests.ingest.files import pdf_bytes

URL = "/v1/collections/default/documents"
DOT_IDS = ["../x", "a/b/../c", "./a", "a/.", "..", ".", "a\\..\\b"]
BAD_IDS = [*DOT_IDS, "nul\x00id"]
FINE_IDS = ["a.b", "...", "a/..b/c", ".hidden", "v1.2/notes.md", "a..b"]


@pytest.mark.parametrize("doc_id", BAD_IDS)
def test_check_refuses_nul_and_dot_segments(doc_id: str) -> None:
    assert id_problem(doc_id) is not None
    with pytest.raises(InvalidInputError):
        check_document_id(doc_id)


@pytest.mark.parametrize("doc_id", FINE_IDS)
def test_ids_with_dots_that_are_not_segments_are_kept(doc_id: str) -> None:
    assert check_document_id(doc_id) == doc_id


@pytest.mark.parametrize(
    "document",
    [
        *({"id": doc_id, "text": "t"} for doc_id in BAD_IDS),
        {"id": "ok", "text": "t", "title": "a\x00b"},
        {"id": "ok", "text": "t", "metadata": {"k\x00": 1}},
        {"id": "ok", "text": "t", "metadata": {"outer": {"in\x00ner": 1}}},
    ],
)
def test_api_refuses_them_with_422_and_stores_nothing(
    client: TestClient, document: dict[str, object]
) -> None:
    refused = client.post(URL, json={"documents": [document]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error_type"] == "validation_error"
    assert "NUL" in refused.json()["error"] or "segment" in refused.json()["error"]
    assert client.get(URL).json()["documents"] == []


def test_api_keeps_an_id_with_dots_readable_and_deletable(client: TestClient) -> None:
    assert client.post(URL, json={"documents": [{"id": "v1.2/a..b", "text": "t"}]}).status_code == 201
    assert client.get(f"{URL}/v1.2/a..b").json()["id"] == "v1.2/a..b"
    assert client.delete(f"{URL}/v1.2/a..b").status_code == 200


def test_an_uploaded_file_with_a_dot_segment_name_is_a_failed_outcome(client: TestClient) -> None:
    files = [("files", ("../escape.md", b"# Up\n\nsome text")), ("files", ("fine.md", b"more text"))]
    response = client.post(URL, files=files)
    assert response.status_code == 201, response.text
    outcomes = {o["id"]: (o["status"], o.get("error") or "") for o in response.json()["outcomes"]}
    assert outcomes["fine.md"][0] == "added"
    status, error = outcomes["../escape.md"]
    assert status == "failed" and "segment" in error


def test_jsonl_ingest_names_each_refused_document(tmp_path: Path) -> None:
    lines = [
        {"id": "good", "text": "good text"},
        {"id": "../up", "text": "t"},
        {"id": "a/./b", "text": "t"},
        {"id": "n\x00l", "text": "t"},
        {"id": "titled", "text": "t", "title": "x\x00y"},
        {"id": "keyed", "text": "t", "metadata": {"k\x00": 1}},
    ]
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = rag(tmp_path / "data", "fake:32", "ingest", str(source), "-c", "c", "--json")
    assert result.exit_code == 1
    summary = json_out(result)
    assert (summary["added"], summary["failed"]) == (1, 5)
    assert {failure["name"] for failure in summary["failures"]} == {
        "../up",
        "a/./b",
        "n\x00l",
        "titled",
        "keyed",
    }


def test_a_pdf_whose_title_holds_nul_is_loaded_without_it() -> None:
    """A title the file itself holds (PDF strings often end in NUL) is tidied, not a reason to refuse it."""
    loaded = load_bytes("paper.pdf", pdf_bytes(["some text"], title="Tit\x00le!"))
    [document] = loaded.documents
    assert document.title == "Title!"


def test_pipeline_and_store_refuse_the_same(tmp_path: Path) -> None:
    library = Library(tmp_path)
    embedder = HashEmbedder(8)
    documents = [SourceDocument(id=doc_id, text="t") for doc_id in BAD_IDS] + [
        SourceDocument(id="ok", text="t")
    ]
    summary = Ingestor(library, embedder, IngestOptions()).ingest(documents, collection="c")
    assert (summary.added, summary.failed) == (1, len(BAD_IDS))
    collection = library.open_collection("c")
    chunk = ChunkRecord(ordinal=0, text="t", char_start=0, char_end=1, token_count=1)
    rows = embedder.embed_documents([["t"]])[0]
    for record in [
        *(DocumentRecord(id=doc_id, text="t", content_hash="h") for doc_id in BAD_IDS),
        DocumentRecord(id="t", text="t", content_hash="h", title="\x00"),
        DocumentRecord(id="m", text="t", content_hash="h", metadata={"\x00": 1}),
    ]:
        with pytest.raises(InvalidInputError):
            collection.upsert_documents([(record, [chunk], rows)])
    assert [document.id for document in collection.list_documents()] == ["ok"]
    library.close()

"""The whole ingestion path with the real offline MiniLM model, driven through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.store import Library
from rag.types import StoredDocument
from tests.ingest.cli import json_out, rag
from tests.ingest.files import pdf_bytes, write_docx

pytestmark = pytest.mark.model
MODEL = "all-minilm-l6-v2"
PDF_SENTENCE = "The observatory telescope mirror is recoated with aluminium every eleven years."


def build_folder(root: Path) -> None:
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "bread.md").write_text(
        "# Baking bread\n\nSourdough needs a starter fed with flour and water.\n\n"
        "## Proofing\n\nLet the dough rise overnight in a cool kitchen before baking it hot."
    )
    (root / "notes.txt").write_text("Cycling to work keeps the commute short and the legs strong.")
    (root / "page.html").write_text(
        "<html><head><title>Harbour</title><script>var tide = 1;</script></head>"
        "<body><h1>Harbour rules</h1><p>Boats moor at the north pier after sunset.</p></body></html>"
    )
    # Each page is near the 200-token target, so each is a chunk of its own.
    pages = [
        "Annual maintenance report of the hill station. " * 20,
        PDF_SENTENCE + " The dome is white." * 30,
    ]
    (root / "report.pdf").write_bytes(pdf_bytes(pages, title="Maintenance"))
    write_docx(
        root / "memo.docx", heading="Office memo", paragraphs=["The printer on floor two is out of toner."]
    )
    records = [
        {
            "_id": "faq-1",
            "title": "Refunds",
            "text": "Refunds are paid within fourteen days.",
            "metadata": {"n": 1},
        },
        {
            "_id": "faq-2",
            "title": "Shipping",
            "text": "Parcels ship from the Leeds warehouse.",
            "metadata": {"n": 2},
        },
    ]
    (root / "faq.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj garbage without end")
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4)


def test_ingest_update_sync_and_search_with_minilm(tmp_path: Path, minilm_path: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    build_folder(docs)

    first = rag(data, MODEL, "ingest", str(docs), "--json")
    summary = json_out(first)
    assert first.exit_code == 1  # two files could not be read
    assert (summary["added"], summary["updated"], summary["skipped"], summary["failed"]) == (7, 0, 0, 2)
    assert {Path(f["name"]).name for f in summary["failures"]} == {"broken.pdf", "blob.bin"}
    assert "binary file" in next(f["reason"] for f in summary["failures"] if f["name"].endswith("blob.bin"))

    again = json_out(rag(data, MODEL, "ingest", str(docs), "--json"))
    assert (again["added"], again["updated"], again["skipped"], again["chunks"]) == (0, 0, 7, 0)

    (docs / "notes.txt").write_text("Cycling to work in the rain needs mudguards and a good jacket.")
    edited = json_out(rag(data, MODEL, "ingest", str(docs), "--json"))
    assert (edited["added"], edited["updated"], edited["skipped"]) == (0, 1, 6)
    versions = {d.id: d.version for d in _documents(data)}
    assert versions.pop("notes.txt") == 2 and set(versions.values()) == {1}

    (docs / "page.html").unlink()
    synced = json_out(rag(data, MODEL, "ingest", str(docs), "--sync", "--json"))
    assert (synced["deleted"], synced["skipped"]) == (1, 6)
    assert "page.html" not in {d.id for d in _documents(data)}

    hits = json_out(rag(data, MODEL, "search", PDF_SENTENCE, "--json", "-k", "3"))
    assert (hits[0]["document_id"], hits[0]["page"]) == ("report.pdf", 2)
    assert set(hits[0]) >= {"chunk_id", "score", "text", "metadata", "char_start", "char_end", "source"}
    filtered = json_out(rag(data, MODEL, "search", "parcel shipping", "--filter", "n=2", "--json"))
    assert [hit["document_id"] for hit in filtered] == ["faq-2"]


def _documents(data: Path) -> list[StoredDocument]:
    library = Library(data)
    try:
        return library.open_collection("default").list_documents(limit=100)
    finally:
        library.close()

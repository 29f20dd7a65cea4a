"""The store's side of context: hits' chunk_index and tokens, chunk ranges, roots, and retrieve_context."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.encoding import token_counter
from rag.context import retrieve_context
from rag.embedding.fake import HashEmbedder
from rag.errors import InvalidInputError
from rag.search import Searcher
from rag.store import Collection, Library, schema
from tests.rag.store.conftest import MakeItem

TEXT = "Cats purr softly. Dogs bark loudly. Fish swim in the sea. Birds sing at dawn. Cows graze all day."
COUNT = token_counter("cl100k_base")


def test_hits_carry_their_chunk_index_and_stored_token_count(
    collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    record, chunks, embeddings = make_item("a", TEXT)
    collection.upsert_documents([(record, chunks, embeddings)])
    [top] = Searcher(collection, embedder).search("dogs bark loudly", top_k=1, mode="bm25").hits
    assert (top.chunk_index, top.tokens) == (1, chunks[1].token_count) == (1, 3)


def test_chunk_range_reads_a_documents_ordinals_in_order_in_one_view(
    collection: Collection, make_item: MakeItem
) -> None:
    collection.upsert_documents([make_item("a", TEXT), make_item("b", "One. Two.")])
    stored = collection.get_chunks("a")
    with collection.reading() as view:
        around = view.chunk_range("a", 1, 3)
        assert [chunk.ordinal for _, chunk in around] == [1, 2, 3]
        assert [chunk for _, chunk in around] == stored[1:4]
        assert [chunk.text for _, chunk in view.chunk_range("a", 4, 10)] == [" Cows graze all day."]
        assert view.chunk_range("missing", 0, 5) == []
    ids = [chunk_id for chunk_id, _ in around]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_retrieve_context_widens_hits_and_keeps_the_budget(
    collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    collection.upsert_documents([make_item("a", TEXT), make_item("b", "Tea is green. Coffee is black.")])
    searcher = Searcher(collection, embedder)
    context = retrieve_context(
        searcher, "fish swim", max_tokens=500, count_tokens=COUNT, top_k=1, mode="bm25"
    )
    [citation] = context.citations
    assert (citation.document_id, citation.title, citation.source) == ("a", "Title a", "file://a.txt")
    span = TEXT[citation.char_start : citation.char_end]
    assert span == " Dogs bark loudly. Fish swim in the sea. Birds sing at dawn."
    assert context.tokens == COUNT(context.text) <= 500
    assert context.text == f"[1] Title a (file://a.txt)\n{span}"
    dense = retrieve_context(searcher, "fish swim", max_tokens=500, count_tokens=COUNT, neighbors=0, top_k=2)
    assert all(len(c.chunk_ids) <= 2 for c in dense.citations) and dense.tokens <= 500
    with pytest.raises(InvalidInputError):
        retrieve_context(searcher, "fish", max_tokens=0, count_tokens=COUNT)


def test_documents_by_source_joins_a_root_and_a_relative_source(
    collection: Collection, make_item: MakeItem
) -> None:
    record, chunks, embeddings = make_item("guide/a.md", "Cats purr.")
    rooted = replace(record, source="guide/a.md", root="/srv/docs/")
    collection.upsert_documents([(rooted, chunks, embeddings), make_item("b", "Fish swim.")])
    assert collection.documents_by_source() == {"/srv/docs/guide/a.md": ["guide/a.md"], "file://b.txt": ["b"]}
    assert collection.get_document("guide/a.md").source == "guide/a.md"


def test_a_version_1_collection_gains_the_root_column_and_keeps_its_documents(
    library: Library, collection: Collection, make_item: MakeItem, tmp_path: Path
) -> None:
    collection.upsert_documents([make_item("a", "Cats purr.")])
    library.close()
    database = library.root / "docs" / schema.DB_FILE
    conn = sqlite3.connect(database)
    conn.execute("ALTER TABLE documents DROP COLUMN root")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    reopened = Library(library.data_dir).open_collection("docs")
    assert reopened.documents_by_source() == {"file://a.txt": ["a"]}
    with reopened.reading() as view:
        assert view.chunk_range("a", 0, 0)[0][1].text == "Cats purr."
    assert schema.schema_version(schema.connect(database)) == schema.SCHEMA_VERSION
    reopened.close()

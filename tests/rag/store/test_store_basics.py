"""Library and collection basics: create/open/delete, fingerprints, settings, upsert/delete, reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.embedding.fake import HashEmbedder
from rag.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptStoreError,
    DocumentNotFoundError,
    FingerprintMismatchError,
    InvalidInputError,
)
from rag.fingerprint import CollectionFingerprint
from rag.search import Searcher
from rag.store import Collection, Library, schema
from tests.rag.store.conftest import FINGERPRINT_CHUNKER, MakeItem


def test_create_open_list_delete(library: Library, collection: Collection) -> None:
    assert library.open_collection("docs") is collection
    assert [info.name for info in library.list_collections()] == ["docs"]
    info = collection.info()
    assert (info.documents, info.chunks) == (0, 0)
    assert collection.fingerprint.fts.tokenizer.startswith("porter unicode61")
    assert collection.fingerprint.chunker == FINGERPRINT_CHUNKER
    with pytest.raises(CollectionExistsError):
        library.create_collection("docs", fingerprint=collection.fingerprint)
    library.delete_collection("docs")
    assert library.list_collections() == []
    with pytest.raises(CollectionNotFoundError):
        library.open_collection("docs")


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 65, ".hidden", "é"])
def test_invalid_names_are_refused(library: Library, name: str) -> None:
    with pytest.raises(InvalidInputError, match="Invalid collection name"):
        library.create_collection(name, fingerprint=CollectionFingerprint(HashEmbedder(8).fingerprint))


def test_fingerprint_mismatch_names_the_differing_keys(library: Library, collection: Collection) -> None:
    other = HashEmbedder(128).fingerprint
    with pytest.raises(FingerprintMismatchError, match="dimensions") as caught:
        library.open_collection("docs", embedder=other)
    assert "doc_model" in caught.value.message
    with pytest.raises(FingerprintMismatchError):
        Searcher(collection, HashEmbedder(128))
    same = HashEmbedder(64).fingerprint
    assert library.open_collection("docs", embedder=same) is collection
    assert library.get_or_create_collection("docs", fingerprint=CollectionFingerprint(same)) is collection


def test_settings_update_and_validation(collection: Collection) -> None:
    collection.update_settings({"hybrid": {"method": "rrf", "weight": 0.3}})
    collection.update_settings({"keep_floats": True})
    assert collection.settings == {"hybrid": {"method": "rrf", "weight": 0.3}, "keep_floats": True}
    with pytest.raises(InvalidInputError, match="index_type"):
        collection.update_settings({"index_type": "hnsw"})
    assert "index_type" not in collection.settings


def test_upsert_replaces_and_versions(collection: Collection, make_item: MakeItem) -> None:
    collection.upsert_documents([make_item("a", "Cats purr. Dogs bark."), make_item("b", "Fish swim.")])
    assert collection.get_document("a").version == 1
    assert [c.text for c in collection.get_chunks("a")] == ["Cats purr.", " Dogs bark."]
    collection.upsert_documents([make_item("a", "Birds sing.", {"lang": "en"})], settings_hash="s1")
    stored = collection.get_document("a")
    assert (stored.version, stored.chunk_count, stored.metadata, stored.settings_hash) == (
        2,
        1,
        {"lang": "en"},
        "s1",
    )
    assert collection.info().chunks == 2
    assert collection.document_states()["a"][1] == "s1"
    assert collection.documents_by_source() == {"file://a.txt": ["a"], "file://b.txt": ["b"]}
    assert [d.id for d in collection.list_documents(limit=1, offset=1)] == ["b"]


def test_delete_documents(collection: Collection, make_item: MakeItem) -> None:
    collection.upsert_documents([make_item("a", "Cats purr."), make_item("b", "Fish swim.")])
    assert collection.delete_documents(["a", "missing", "a"]) == 1
    with pytest.raises(DocumentNotFoundError):
        collection.get_document("a")
    with pytest.raises(DocumentNotFoundError):
        collection.get_chunks("a")
    assert collection.info().documents == 1


def test_bad_batches_write_nothing(collection: Collection, make_item: MakeItem) -> None:
    good = make_item("a", "Cats purr.")
    with pytest.raises(InvalidInputError, match="twice"):
        collection.upsert_documents([good, good])
    record, chunks, embeddings = make_item("b", "One. Two.")
    with pytest.raises(InvalidInputError, match="embedding rows"):
        collection.upsert_documents([(record, chunks[:1], embeddings)])
    assert collection.info().documents == 0


def test_search_finds_the_matching_chunk(
    collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    collection.upsert_documents(
        [make_item("a", "Cats purr softly. Dogs bark loudly."), make_item("b", "Fish swim in the sea.")]
    )
    searcher = Searcher(collection, embedder)
    for mode in ("binary", "binary+int8", "int8-exact", "bm25", "hybrid"):
        result = searcher.search("dogs bark loudly", top_k=2, mode=mode)
        assert result.mode == mode
        top = result.hits[0]
        assert (top.document_id, top.text, top.chunk_index) == ("a", " Dogs bark loudly.", 1)
        assert (top.char_start, top.char_end, top.title, top.source) == (17, 35, "Title a", "file://a.txt")
        assert {"embed", "hamming", "rescore", "lexical", "fusion", "hydrate", "total"} <= set(result.timings)


def test_modes_and_arguments_are_checked(
    collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    collection.upsert_documents([make_item("a", "Cats purr.")])
    searcher = Searcher(collection, embedder)
    with pytest.raises(InvalidInputError, match="binary\\+int8"):
        searcher.search("cats", mode="semantic")
    with pytest.raises(InvalidInputError, match="keep_floats"):
        searcher.search("cats", mode="float-exact")
    with pytest.raises(InvalidInputError, match="top_k"):
        searcher.search("cats", top_k=0)
    with pytest.raises(InvalidInputError, match="dimensions"):
        collection.search_vectors(HashEmbedder(128).embed_queries(["cats"]))


def test_float_exact_when_floats_are_kept(
    library: Library, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    kept = library.create_collection(
        "kept", fingerprint=CollectionFingerprint(embedder.fingerprint), settings={"keep_floats": True}
    )
    with pytest.raises(InvalidInputError, match="with_floats"):
        kept.upsert_documents([make_item("a", "Cats purr.")])
    kept.upsert_documents([make_item("a", "Cats purr. Dogs bark.", floats=True)])
    hits = Searcher(kept, embedder).search("dogs bark", mode="float-exact").hits
    assert [h.text for h in hits] == [" Dogs bark.", "Cats purr."]
    assert hits[0].score == pytest.approx(1.0, abs=0.2)


def test_empty_collection_answers_empty(collection: Collection, embedder: HashEmbedder) -> None:
    searcher = Searcher(collection, embedder)
    for mode in ("binary", "binary+int8", "int8-exact", "bm25", "hybrid"):
        assert searcher.search("anything", mode=mode).hits == []


def test_repeated_filters_see_new_writes(
    collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    collection.upsert_documents(
        [make_item("a", "Cats purr.", {"k": 1}), make_item("b", "Cats nap.", {"k": 2})]
    )
    searcher = Searcher(collection, embedder)

    def found() -> list[str]:
        return sorted(h.document_id for h in searcher.search("cats", filter={"k": 1}).hits)

    assert found() == ["a"]
    collection.upsert_documents([make_item("c", "Cats play.", {"k": 1})])
    assert found() == ["a", "c"]
    collection.upsert_documents([make_item("a", "Cats purr.", {"k": 3})])  # metadata changed
    assert found() == ["c"]
    timings = searcher.search("cats", filter={"k": 1}).timings
    assert timings["filter"] >= 0


def test_half_created_or_half_deleted_folders_are_not_collections(
    library: Library, collection: Collection
) -> None:
    (library.root / ".creating-ghost-123").mkdir()
    (library.root / ".deleting-old-456").mkdir()
    (library.root / "junk").mkdir()  # no database inside
    assert [info.name for info in library.list_collections()] == ["docs"]


def test_schema_versions(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    conn = schema.connect(path)
    schema.migrate(conn)
    assert schema.schema_version(conn) == schema.SCHEMA_VERSION
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "documents", "chunks", "tombstones", "chunks_fts"} <= tables
    schema.migrate(conn)  # idempotent
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    with pytest.raises(CorruptStoreError, match="newer"):
        schema.migrate(conn)
    conn.close()

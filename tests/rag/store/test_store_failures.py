"""A damaged database and a handle used after its collection went away: the store's own errors, never
SQLite's, and one collection's damage never spreads to the others."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.embedding.fake import HashEmbedder
from rag.errors import CollectionNotFoundError, CorruptStoreError
from rag.fingerprint import CollectionFingerprint
from rag.search import Searcher
from rag.store import Collection, Library, schema
from rag.store.collection import DB_FILE
from tests.rag.store.conftest import FINGERPRINT_CHUNKER, MakeItem

PAGE = 4096  # SQLite's default page size; page 1 holds the header and the schema


def _create(library: Library, embedder: HashEmbedder, name: str, make_item: MakeItem) -> Collection:
    fingerprint = CollectionFingerprint(embedder.fingerprint, FINGERPRINT_CHUNKER)
    collection = library.create_collection(name, fingerprint=fingerprint)
    collection.upsert_documents([make_item("a", "Cats purr softly. Dogs bark loudly.")])
    return collection


def _overwrite(library: Library, name: str, data: bytes) -> Path:
    """Overwrite a collection's database file in place, as a bad disk or a stray copy would."""
    path = library.root / name / DB_FILE
    path.write_bytes(data)
    return path


def _damage_pages(path: Path) -> None:
    """Keep the header page but overwrite every page after it, under an open collection: the checkpoint
    (another connection) moves the WAL into the file and makes open connections drop their page caches."""
    other = sqlite3.connect(path)
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other.close()
    data = path.read_bytes()
    path.write_bytes(data[:PAGE] + b"\xa5" * (len(data) - PAGE))


@pytest.fixture
def damaged(library: Library, embedder: HashEmbedder, make_item: MakeItem) -> Path:
    """Collections ``good`` and ``bad``, ``bad``'s database overwritten with garbage, the library closed."""
    _create(library, embedder, "good", make_item)
    _create(library, embedder, "bad", make_item)
    library.close()
    return _overwrite(library, "bad", b"not a database" * 100)


def test_a_garbage_database_raises_corrupt_store_naming_collection_and_file(
    library: Library, damaged: Path
) -> None:
    with pytest.raises(CorruptStoreError) as caught:
        library.open_collection("bad")
    # The file is named relative to the data dir: API error bodies must not reveal server paths.
    relative = f"{damaged.parent.name}/{damaged.name}"
    assert "'bad'" in caught.value.message and relative in caught.value.message
    assert str(damaged.parent.parent) not in caught.value.message
    assert "other collections are unaffected" in caught.value.message
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert library.open_collection("good").info().documents == 1


def test_an_emptied_database_is_corrupt_not_a_new_empty_collection(
    library: Library, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    _create(library, embedder, "docs", make_item)
    library.close()
    _overwrite(library, "docs", b"")
    with pytest.raises(CorruptStoreError, match="no collection schema"):
        library.open_collection("docs")
    with pytest.raises(CorruptStoreError):  # still refused: the first attempt did not recreate tables
        library.open_collection("docs")


def test_listing_keeps_the_healthy_collections_and_marks_the_corrupt_one(
    library: Library, damaged: Path
) -> None:
    bad, good = library.list_collections()
    assert (good.name, good.documents, good.chunks, good.error) == ("good", 1, 2, None)
    assert (bad.name, bad.documents, bad.chunks, bad.fingerprint) == ("bad", -1, -1, {})
    assert bad.error is not None and f"{damaged.parent.name}/{damaged.name}" in bad.error


def test_a_corrupt_collection_can_still_be_deleted(library: Library, damaged: Path) -> None:
    library.delete_collection("bad")
    assert [info.name for info in library.list_collections()] == ["good"]


ReadCall = Callable[[Collection, HashEmbedder], Any]
READS: dict[str, ReadCall] = {
    "info": lambda c, e: c.info(),
    "search": lambda c, e: Searcher(c, e).search("cats"),
    "bm25": lambda c, e: c.bm25("cats"),
    "hydrate": lambda c, e: c.hydrate([(1, 1.0)]),
    "get_document": lambda c, e: c.get_document("a"),
}


@pytest.mark.parametrize("call", READS.values(), ids=READS.keys())
def test_damage_under_an_open_handle_is_corrupt_store_and_it_still_closes(
    library: Library, embedder: HashEmbedder, make_item: MakeItem, call: ReadCall
) -> None:
    collection = _create(library, embedder, "docs", make_item)
    searcher = Searcher(collection, embedder)
    searcher.search("cats")  # builds the index, so close() will try to snapshot it
    _damage_pages(library.root / "docs" / DB_FILE)
    with pytest.raises(CorruptStoreError, match="'docs' is corrupt"):
        call(collection, embedder)
    library.close()  # the snapshot is skipped, not raised: a damaged collection must not block closing
    library.delete_collection("docs")


WriteCall = Callable[[Collection, MakeItem], Any]
USES: dict[str, WriteCall] = {
    "info": lambda c, m: c.info(),
    "search_vectors": lambda c, m: c.search_vectors(m("q", "Cats.")[2]),
    "bm25": lambda c, m: c.bm25("cats"),
    "hydrate": lambda c, m: c.hydrate([(1, 1.0)]),
    "list_documents": lambda c, m: c.list_documents(),
    "upsert": lambda c, m: c.upsert_documents([m("b", "Birds sing.")]),
    "delete_documents": lambda c, m: c.delete_documents(["a"]),
    "update_settings": lambda c, m: c.update_settings({"ivf_nprobe": 4}),
    "save_index": lambda c, m: c.save_index(),
}


@pytest.mark.parametrize("call", USES.values(), ids=USES.keys())
def test_a_handle_of_a_deleted_collection_raises_not_found(
    library: Library, embedder: HashEmbedder, make_item: MakeItem, call: WriteCall
) -> None:
    collection = _create(library, embedder, "docs", make_item)
    library.delete_collection("docs")
    with pytest.raises(CollectionNotFoundError, match="'docs' is no longer open"):
        call(collection, make_item)


def test_busy_is_not_mistaken_for_corruption(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    holder, waiter = schema.connect(path), schema.connect(path, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as caught:
        waiter.execute("BEGIN IMMEDIATE")
    assert not schema.is_corruption(caught.value)
    holder.execute("ROLLBACK")
    holder.close()
    waiter.close()
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(sqlite3.DatabaseError) as corrupt:
        schema.connect(path)
    assert schema.is_corruption(corrupt.value)

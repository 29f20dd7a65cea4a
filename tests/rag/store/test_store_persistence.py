"""Reopening: the derived index is rebuilt, loaded from its snapshot, or caught up; deletes stay deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.embedding.fake import HashEmbedder
from rag.errors import CorruptStoreError
from rag.fingerprint import CollectionFingerprint
from rag.search import Searcher
from rag.store import Collection, Library
from rag.store.snapshot import FILENAME
from tests.rag.store.conftest import MakeItem

TEXTS = {
    f"d{i}": f"Document {i} talks about topic{i % 7} and item{i}. It also mentions shared words."
    for i in range(40)
}


def _ids(collection: Collection, embedder: HashEmbedder, query: str, mode: str = "binary+int8") -> list[str]:
    hits = Searcher(collection, embedder).search(query, top_k=100, mode=mode).hits
    return [h.document_id for h in hits]


def _fill(collection: Collection, make_item: MakeItem) -> None:
    collection.upsert_documents([make_item(doc_id, text) for doc_id, text in TEXTS.items()])


def test_deleted_and_replaced_documents_never_come_back(
    tmp_path: Path, collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    _fill(collection, make_item)
    assert "d3" in _ids(collection, embedder, "topic3 item3")
    collection.delete_documents(["d3"])
    collection.upsert_documents([make_item("d10", "Completely different words now.")])
    for mode in ("binary", "binary+int8", "int8-exact", "bm25", "hybrid"):
        hits = Searcher(collection, embedder).search("topic3 item3 item10", top_k=100, mode=mode).hits
        assert "d3" not in {h.document_id for h in hits}
        assert not [h for h in hits if "item10" in h.text]  # d10's old chunks are gone
    collection.close()
    reopened = Library(tmp_path / "data").open_collection("docs")
    for mode in ("binary+int8", "bm25"):
        assert "d3" not in _ids(reopened, embedder, "topic3 item3", mode)
    assert _ids(reopened, embedder, "completely different words")[0] == "d10"
    reopened.close()


def test_snapshot_is_written_on_close_and_caught_up_after(
    tmp_path: Path, collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    _fill(collection, make_item)
    before = _ids(collection, embedder, "topic2 shared")
    collection.close()
    assert (collection.directory / FILENAME).exists()
    # a second library writes without searching (no snapshot), so the next open loads the old snapshot and
    # catches up through the tombstones and the newer chunks
    writer = Library(tmp_path / "data").open_collection("docs")
    writer.delete_documents(["d2", "d9"])
    writer.upsert_documents([make_item("new", "topic2 shared topic2 shared.")])
    writer.close()
    reader = Library(tmp_path / "data").open_collection("docs")
    reader.load_index()
    assert reader._vectors.snapshot_generation > 0  # loaded from the snapshot, then caught up
    after = _ids(reader, embedder, "topic2 shared")
    assert after[0] == "new"
    assert set(after) == (set(before) - {"d2", "d9"}) | {"new"}
    reader.close()


def test_corrupt_snapshot_is_ignored(
    tmp_path: Path, collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    _fill(collection, make_item)
    expected = _ids(collection, embedder, "topic4")
    collection.close()
    path = collection.directory / FILENAME
    path.write_bytes(path.read_bytes()[:100])
    reopened = Library(tmp_path / "data").open_collection("docs")
    assert _ids(reopened, embedder, "topic4") == expected
    reopened.close()


def test_ivf_index_setting(
    tmp_path: Path, library: Library, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    ivf = library.create_collection(
        "ivf",
        fingerprint=CollectionFingerprint(embedder.fingerprint),
        settings={"index_type": "ivf", "ivf_nlist": 2},
    )
    texts = {f"x{i}": f"word{i % 13} filler{i % 5} extra{i}." for i in range(120)}
    items = [make_item(k, v, {"n": i}) for i, (k, v) in enumerate(texts.items())]
    ivf.upsert_documents(items[:20])
    searcher = Searcher(ivf, embedder)
    searcher.search("word3")
    assert ivf._vectors.index_kind == "flat"  # 20 codes: too few to train 2 lists
    ivf.upsert_documents(items[20:])
    searcher.search("word3")
    assert ivf._vectors.index_kind == "flat"  # catching up adds to the index it has
    ivf.save_index()
    assert ivf._vectors.index_kind == "ivf"  # 120 codes >= 39 x 2: trained before the snapshot
    exact = searcher.search("word3 filler2", top_k=5, mode="int8-exact").hits
    ivf.update_settings({"ivf_nprobe": 2})  # all lists probed: the IVF search is exhaustive
    approx = searcher.search("word3 filler2", top_k=5, rescore_multiplier=30, mode="binary+int8").hits
    assert ivf._vectors.index_kind == "ivf"  # nprobe is a search parameter, no rebuild
    assert [h.chunk_id for h in approx] == [h.chunk_id for h in exact]
    filtered = searcher.search("word3", top_k=5, filter={"n": {"$lt": 10}}).hits
    assert filtered and all(h.metadata["n"] < 10 for h in filtered)
    ivf.delete_documents(["x3"])
    assert "x3" not in [h.document_id for h in searcher.search("word3", top_k=50).hits]
    ivf.close()
    reopened = Library(tmp_path / "data").open_collection("ivf")
    assert [h.document_id for h in Searcher(reopened, embedder).search("word3", top_k=50).hits].count(
        "x3"
    ) == 0
    assert reopened._vectors.index_kind == "ivf"  # loaded from the snapshot, not retrained
    reopened.close()


def test_compaction_reclaims_dead_rows_and_keeps_ids(
    tmp_path: Path, collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    _fill(collection, make_item)
    for round_ in range(3):  # every replacement leaves the old rows dead in the row files
        collection.upsert_documents(
            [make_item(f"d{i}", f"Rewritten {round_} topic{i % 3}.") for i in range(10)]
        )
    collection.delete_documents(["d20", "d21"])
    searcher = Searcher(collection, embedder)
    before = {
        m: searcher.search("topic1 shared", top_k=20, mode=m).hits for m in ("binary+int8", "int8-exact")
    }
    int8_file = collection.directory / "vectors-0.int8"
    size_before = int8_file.stat().st_size
    reclaimed = collection.compact()
    assert reclaimed == size_before // 64 - collection.info().chunks
    assert (collection.directory / "vectors-1.int8").stat().st_size == collection.info().chunks * 64
    assert collection.compact() == 0  # nothing left to reclaim
    for mode, hits in before.items():
        assert searcher.search("topic1 shared", top_k=20, mode=mode).hits == hits
    collection.upsert_documents([make_item("late", "topic1 shared words arrive late.")])
    collection.close()
    reopened = Library(tmp_path / "data").open_collection("docs")
    assert _ids(reopened, embedder, "topic1 shared words arrive late")[0] == "late"
    assert _ids(reopened, embedder, "topic1 shared", "int8-exact")[:20] != []
    reopened.close()


def test_a_truncated_vector_file_is_reported_as_corrupt(
    tmp_path: Path, collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    _fill(collection, make_item)
    collection.close()
    (collection.directory / FILENAME).unlink(missing_ok=True)  # force a rebuild from the row files
    with open(collection.directory / "vectors-0.bits", "r+b") as handle:
        handle.truncate(10)
    reopened = Library(tmp_path / "data").open_collection("docs")
    with pytest.raises(CorruptStoreError, match="vectors-0.bits"):
        Searcher(reopened, embedder).search("topic1")
    assert reopened.bm25("topic1", top_k=3)  # the text side still answers
    reopened.close()

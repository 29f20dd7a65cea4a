"""The ``auto`` index kind through the store: flat while small, IVF past the threshold (at save_index, a
rebuild or a compaction), filters inside the search or an exact subset scan, deletes, snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.embedding.fake import HashEmbedder
from rag.errors import InvalidInputError
from rag.fingerprint import CollectionFingerprint
from rag.store import Collection, Library
from rag.store.snapshot import FILENAME
from rag.types import MetadataFilter, SearchMode
from tests.rag.store.oracle import Corpus, fill, hamming, queries

DIMENSIONS = 64


def _collection(library: Library, settings: dict[str, object]) -> Collection:
    fingerprint = CollectionFingerprint(HashEmbedder(DIMENSIONS).fingerprint)
    return library.create_collection("auto", fingerprint=fingerprint, settings=settings)


def _binary_distances(
    collection: Collection, seed: int, k: int, filter: MetadataFilter | None = None
) -> list[int]:
    scored, _ = collection.search_vectors(
        queries(1, DIMENSIONS, seed), mode=SearchMode.BINARY, top_k=k, filter=filter
    )
    return [round((1.0 - score) * DIMENSIONS / 2) for _, score in scored]


def _expected(corpus: Corpus, seed: int, k: int, docs: set[str] | None = None) -> list[int]:
    allowed = None if docs is None else [key for key in corpus.keys if key[0] in docs]
    return [int(h) for h in sorted(hamming(corpus, queries(1, DIMENSIONS, seed), allowed).values())[:k]]


def test_auto_kind_switches_past_the_threshold_and_keeps_exact_answers(tmp_path: Path) -> None:
    library = Library(tmp_path / "data")
    collection = _collection(library, {"index_auto_min_chunks": 300, "index_recall_target": 1.0})
    corpus = fill(collection, documents=50, chunks=4, dimensions=DIMENSIONS, seed=0)
    collection.load_index()
    assert collection._vectors.index_kind == "flat"  # 200 chunks < 300
    more = fill(collection, documents=100, chunks=4, dimensions=DIMENSIONS, seed=0)  # doc0000..doc0099
    collection.load_index()
    assert collection._vectors.index_kind == "flat"  # catch-up only adds to the index it has
    collection.save_index()
    assert collection._vectors.index_kind == "ivf"  # 400 live chunks: trained before the snapshot
    del corpus
    for seed in (1, 2, 3):  # recall target 1.0 probes every list: the oracle's answers exactly
        assert _binary_distances(collection, seed, 10) == _expected(more, seed, 10)
    tiny = {"year": 2003}  # 5 documents x 4 chunks: scanned exactly as a subset
    docs = {d for d, meta in more.metadata.items() if meta["year"] == 2003}
    assert _binary_distances(collection, 4, 10, tiny) == _expected(more, 4, 10, docs)
    collection.delete_documents(["doc0003"])
    assert _binary_distances(collection, 4, 10, tiny) == _expected(more, 4, 10, docs - {"doc0003"})
    collection.close()
    reopened = Library(tmp_path / "data").open_collection("auto")
    reopened.load_index()
    assert reopened._vectors.index_kind == "ivf" and reopened._vectors.snapshot_generation > 0
    assert _binary_distances(reopened, 4, 10, tiny) == _expected(more, 4, 10, docs - {"doc0003"})
    path = reopened.directory / FILENAME
    reopened.close()
    path.write_bytes(path.read_bytes()[:200])  # a torn snapshot: ignored, the index rebuilt by the size rule
    rebuilt = Library(tmp_path / "data").open_collection("auto")
    rebuilt.load_index()
    assert rebuilt._vectors.index_kind == "ivf" and rebuilt._vectors.snapshot_generation == -1
    assert _binary_distances(rebuilt, 1, 10) == _expected(more, 1, 10, set(more.metadata) - {"doc0003"})
    rebuilt.close()


def test_wide_filters_run_inside_a_partial_probe(tmp_path: Path) -> None:
    library = Library(tmp_path / "data")
    collection = _collection(library, {"index_auto_min_chunks": 100, "index_recall_target": 0.5})
    corpus = fill(collection, documents=150, chunks=4, dimensions=DIMENSIONS, seed=5)
    collection.save_index()
    vectors = collection._vectors
    assert vectors.index_kind == "ivf" and vectors._index is not None
    assert vectors._index.nprobe < vectors._index.nlist
    scored, _ = collection.search_vectors(
        queries(1, DIMENSIONS, 6), mode=SearchMode.BINARY_INT8, top_k=10, filter={"group": 2}
    )
    hits = collection.hydrate(scored)
    assert len(hits) == 10 and all(corpus.metadata[h.document_id]["group"] == 2 for h in hits)
    collection.delete_documents([f"doc{d:04d}" for d in range(100)])
    collection.compact()  # a new vector generation: rebuilt by the size rule (200 live chunks: IVF)
    collection.load_index()
    assert collection._vectors.index_kind == "ivf"
    assert len(collection._vectors._index or []) == 200
    collection.close()
    library.close()


def test_bad_index_settings_are_refused(tmp_path: Path) -> None:
    library = Library(tmp_path / "data")
    bad: list[dict[str, object]] = [
        {"index_recall_target": 1.5},
        {"index_recall_target": "high"},
        {"index_auto_min_chunks": 0},
    ]
    for settings in bad:
        with pytest.raises(InvalidInputError, match="index_"):
            _collection(library, settings)
    library.close()

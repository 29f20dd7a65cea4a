"""Search paths against numpy brute force (oracle tests), filters, and the modes' common contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.embedding.fake import HashEmbedder
from rag.errors import CollectionNotFoundError, InvalidInputError
from rag.fingerprint import CollectionFingerprint
from rag.search import Searcher
from rag.store import Collection, Library
from rag.store import queries as store_queries
from rag.types import Embeddings, Hit
from tests.rag.store.conftest import build_item
from tests.rag.store.oracle import Corpus, Key, best, cosine_scores, fill, float_scores, hamming, queries

D = 256
DOCS, CHUNKS = 60, 5  # 300 chunks


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collection, Corpus]]:
    library = Library(tmp_path_factory.mktemp("oracle"))
    collection = library.create_collection(
        "oracle",
        fingerprint=CollectionFingerprint(HashEmbedder(D).fingerprint),
        settings={"keep_floats": True},
    )
    corpus = fill(collection, documents=DOCS, chunks=CHUNKS, dimensions=D, seed=1, floats=True)
    yield collection, corpus
    library.close()


QUERIES = queries(20, D, seed=2, floats=True)


def _query(i: int) -> Embeddings:
    return QUERIES.rows(i, i + 1)


def _search(collection: Collection, query_index: int, **options: Any) -> list[tuple[Key, float]]:
    scored, _ = collection.search_vectors(_query(query_index), **options)
    return [((h.document_id, h.chunk_index), h.score) for h in collection.hydrate(scored)]


@pytest.mark.parametrize("q", range(20))
def test_int8_exact_equals_numpy_cosine(stored: tuple[Collection, Corpus], q: int) -> None:
    collection, corpus = stored
    oracle = cosine_scores(corpus, _query(q))
    hits = _search(collection, q, mode="int8-exact", top_k=10)
    assert [s for _, s in hits] == pytest.approx(best(oracle, 10), abs=1e-6)
    for key, score in hits:
        assert score == pytest.approx(oracle[key], abs=1e-6)


@pytest.mark.parametrize("q", range(20))
def test_binary_equals_numpy_hamming_up_to_ties(stored: tuple[Collection, Corpus], q: int) -> None:
    collection, corpus = stored
    oracle = hamming(corpus, _query(q))
    hits = _search(collection, q, mode="binary", top_k=10)
    distances = [oracle[key] for key, _ in hits]
    assert distances == sorted(oracle.values())[:10]
    for (_, score), distance in zip(hits, distances, strict=True):
        assert score == pytest.approx(1 - 2 * distance / D)


@pytest.mark.parametrize("q", range(20))
def test_binary_int8_with_every_candidate_equals_int8_exact(
    stored: tuple[Collection, Corpus], q: int
) -> None:
    collection, _ = stored
    exhaustive = _search(collection, q, mode="binary+int8", top_k=10, rescore_multiplier=DOCS * CHUNKS // 10)
    assert exhaustive == _search(collection, q, mode="int8-exact", top_k=10)


def test_float_exact_equals_numpy_float_cosine(stored: tuple[Collection, Corpus]) -> None:
    collection, corpus = stored
    for q in range(5):
        oracle = float_scores(corpus, _query(q))
        hits = _search(collection, q, mode="float-exact", top_k=10)
        assert [s for _, s in hits] == pytest.approx(best(oracle, 10), abs=1e-5)


def test_binary_int8_rescores_the_hamming_candidates(stored: tuple[Collection, Corpus]) -> None:
    collection, corpus = stored
    query = _query(3)
    distances = hamming(corpus, query)
    cutoff = sorted(distances.values())[39]
    cosine = cosine_scores(corpus, query)
    for key, score in _search(collection, 3, mode="binary+int8", top_k=10, rescore_multiplier=4):
        assert distances[key] <= cutoff  # came from the Hamming top 40
        assert score == pytest.approx(cosine[key], abs=1e-6)


FILTERS: list[dict[str, object]] = [
    {"group": 2},
    {"group": {"$in": [1, 3]}, "lang": "en"},
    {"year": {"$gte": 2005, "$lt": 2008}},
    {"year": 2019, "lang": {"$eq": "fr"}},  # 1 document: 5 chunks, fewer than top_k
    {"lang": "xx"},
]


def _matches(meta: dict[str, object], spec: dict[str, object]) -> bool:
    for key, condition in spec.items():
        value = meta[key]
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        for op, target in ops.items():
            checks: dict[str, Callable[[Any, Any], bool]] = {
                "$eq": lambda v, t: v == t,
                "$in": lambda v, t: v in t,
                "$gte": lambda v, t: v >= t,
                "$lt": lambda v, t: v < t,
            }
            if not checks[op](value, target):
                return False
    return True


@pytest.mark.parametrize("spec", FILTERS)
@pytest.mark.parametrize("mode", ["binary", "binary+int8", "int8-exact", "float-exact"])
def test_filters_return_exactly_the_matching_hits(
    stored: tuple[Collection, Corpus], spec: dict[str, object], mode: str
) -> None:
    collection, corpus = stored
    allowed = [key for key in corpus.keys if _matches(corpus.metadata[key[0]], spec)]
    for q in range(3):
        hits = _search(collection, q, mode=mode, top_k=10, filter=spec)
        assert len(hits) == min(10, len(allowed))  # a selective filter still fills top_k
        assert all(key in allowed for key, _ in hits)
        if mode == "binary":
            distances = hamming(corpus, _query(q), allowed)
            assert sorted(distances[k] for k, _ in hits) == sorted(distances.values())[: len(hits)]
        elif mode in ("int8-exact", "binary+int8") and len(allowed) <= 40:
            oracle = cosine_scores(corpus, _query(q), allowed)
            assert [s for _, s in hits] == pytest.approx(best(oracle, 10), abs=1e-6)


def test_selective_filter_in_the_hamming_stage_still_fills_top_k(stored: tuple[Collection, Corpus]) -> None:
    collection, corpus = stored
    spec = {"group": 4}  # 12 documents, 60 chunks: more than top_k x multiplier (20), so FAISS filters
    allowed = [key for key in corpus.keys if corpus.metadata[key[0]]["group"] == 4]
    hits = _search(collection, 0, mode="binary+int8", top_k=10, rescore_multiplier=2, filter=spec)
    assert len(hits) == 10 and all(key in allowed for key, _ in hits)


def test_bm25_filters_and_odd_queries(stored: tuple[Collection, Corpus]) -> None:
    collection, _ = stored
    scored = collection.bm25("word3", top_k=100)
    texts = [h.text for h in collection.hydrate(scored)]
    assert texts and all("word3" in t.split() for t in texts)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
    filtered = collection.hydrate(collection.bm25("word3", top_k=100, filter={"group": 1}))
    assert filtered and all(h.metadata["group"] == 1 for h in filtered)
    for text in ['"', "AND OR NOT", "a* NEAR(b c)", "col:x ^y", ")(", "", "   ", "ünïcödé -- ' \\"]:
        collection.bm25(text, top_k=5)  # never an FTS syntax error
    assert collection.bm25("", top_k=5) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"group": {"$regex": "x"}}, "Unknown filter operator"),
        ({"group": {"$in": 3}}, "needs a list"),
        ({"year": {"$gt": "2000"}}, "needs a number"),
        ({"group": [1, 2]}, "only strings, numbers"),
        ({"group": {}}, "empty operator"),
        ({'a"b': 1}, "Filter key"),
        ({"group": {"$in": [[1]]}}, "only strings, numbers"),
    ],
)
def test_invalid_filters_are_refused_clearly(
    stored: tuple[Collection, Corpus], spec: dict[str, object], message: str
) -> None:
    collection, _ = stored
    with pytest.raises(InvalidInputError, match=message):
        _search(collection, 0, filter=spec)
    with pytest.raises(InvalidInputError, match=message):
        collection.bm25("word1", top_k=5, filter=spec)


def test_timings_are_reported(stored: tuple[Collection, Corpus]) -> None:
    collection, _ = stored
    _, timings = collection.search_vectors(_query(0), mode="binary+int8", rescore_multiplier=4)
    # binary+int8 also counts the candidates it rescored (top_k 10 x multiplier 4)
    assert timings.pop("candidates") == 40
    assert set(timings) == {"hamming", "rescore"} and all(v >= 0 for v in timings.values())


def test_the_store_and_the_searcher_default_to_the_same_adaptive_depth(
    stored: tuple[Collection, Corpus],
) -> None:
    collection, _ = stored
    searcher = Searcher(collection, HashEmbedder(D))
    depths = set()
    for q in range(8):
        scored, timings = collection.search_vectors(_query(q), mode="binary+int8", top_k=10)
        searched = searcher.search_embedded("q", _query(q), mode="binary+int8", top_k=10)
        assert timings["candidates"] == searched.candidates
        assert [(hit.chunk_id, hit.score) for hit in searched.hits] == [
            (hit.chunk_id, hit.score) for hit in collection.hydrate(scored)
        ]
        depths.add(searched.candidates)
    assert depths != {40}  # the depth follows the distances, not the old fixed 10 x 4


def test_chunk_ids_are_stable_and_never_reused(tmp_path: Path) -> None:
    library = Library(tmp_path)
    collection = library.create_collection(
        "ids", fingerprint=CollectionFingerprint(HashEmbedder(D).fingerprint)
    )
    fill(collection, documents=4, chunks=2, dimensions=D, seed=3)
    first = collection.search_vectors(_query(0), mode="int8-exact", top_k=8)[0]
    collection.delete_documents(["doc0000"])
    fill(collection, documents=1, chunks=2, dimensions=D, seed=4)  # doc0000 again, new chunks
    second = collection.search_vectors(_query(0), mode="int8-exact", top_k=8)[0]
    old_ids = {i for i, _ in first}
    new_ids = {i for i, _ in second}
    assert len(old_ids & new_ids) == 6  # the untouched documents keep their ids
    assert min(new_ids - old_ids) > max(old_ids)  # replacements get fresh ids
    assert np.all(np.diff(sorted(new_ids)) > 0)
    library.close()


@pytest.mark.parametrize("mode", ["binary+int8", "bm25", "hybrid"])
def test_a_search_racing_a_delete_raises_collection_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    library = Library(tmp_path)
    embedder = HashEmbedder(64)
    collection = library.create_collection("race", fingerprint=CollectionFingerprint(embedder.fingerprint))
    collection.upsert_documents([build_item(embedder, "a", "Cats purr. Dogs bark.")])
    searcher = Searcher(collection, embedder)  # the handle a request took before the delete
    assert searcher.search("cats", mode=mode).hits
    real_hydrate = store_queries.hydrate

    def delete_then_hydrate(conn: Any, scored: list[tuple[int, float]]) -> list[Hit]:
        library.delete_collection("race")  # lands between the search's scoring and its hydration
        return real_hydrate(conn, scored)

    monkeypatch.setattr(store_queries, "hydrate", delete_then_hydrate)
    with pytest.raises(CollectionNotFoundError, match="'race' is no longer open"):
        searcher.search("cats", mode=mode)
    monkeypatch.undo()
    with pytest.raises(CollectionNotFoundError):  # and every later use of the stale handle
        searcher.search("cats", mode=mode)
    library.close()


@pytest.mark.parametrize("mode", ["binary+int8", "bm25", "hybrid"])
def test_a_search_reads_one_snapshot(
    stored: tuple[Collection, Corpus], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Search, fusion settings and hydration share one read transaction, and the fingerprint is read
    once per handle, not per query."""
    collection, _ = stored
    searcher = Searcher(collection, HashEmbedder(D))
    transactions = 0
    reading = Collection._reading

    def counted(self: Collection) -> Any:
        nonlocal transactions
        transactions += 1
        return reading(self)

    monkeypatch.setattr(Collection, "_reading", counted)
    for _ in range(3):
        searcher.search_embedded("word1 word2", _query(0), top_k=5, mode=mode)
    assert transactions == 3

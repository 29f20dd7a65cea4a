"""The adaptive rescoring depth of ``binary+int8`` (``rag.store.depth``) against a numpy oracle: which
candidates it rescores, that it fills ``top_k``, that filters hold, and that an infinite margin is the fixed
pool."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rag.embedding.fake import HashEmbedder
from rag.fingerprint import CollectionFingerprint
from rag.search import MIN_CANDIDATES, Searcher
from rag.store import Collection, Library
from rag.store.depth import DEFAULT_ADAPTIVE, REFERENCE_FLOOR, AdaptiveDepth
from rag.types import Embeddings
from tests.rag.store.oracle import Corpus, Key, best, cosine_scores, fill, hamming, queries

D = 256
QUERIES = queries(12, D, seed=5)
ADAPTIVE: dict[str, Any] = {"mode": "binary+int8", "rescore_multiplier": None}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collection, Corpus]]:
    library = Library(tmp_path_factory.mktemp("adaptive"))
    collection = library.create_collection(
        "adaptive", fingerprint=CollectionFingerprint(HashEmbedder(D).fingerprint)
    )
    corpus = fill(collection, documents=80, chunks=5, dimensions=D, seed=4)  # 400 chunks
    yield collection, corpus
    library.close()


def _query(i: int) -> Embeddings:
    return QUERIES.rows(i, i + 1)


def _keys(collection: Collection, scored: list[tuple[int, float]]) -> list[tuple[Key, float]]:
    return [((h.document_id, h.chunk_index), h.score) for h in collection.hydrate(scored)]


def _oracle_candidates(
    corpus: Corpus, query: Embeddings, top_k: int, rule: AdaptiveDepth, allowed: list[Key] | None = None
) -> list[Key]:
    """The candidates the rule rescores, from numpy Hamming distances: every one within the head margin of
    the 10th distance or the tail margin of the top_k-th."""
    distances = hamming(corpus, query, allowed)
    ordered = sorted(distances.values())
    if len(ordered) <= rule.reference(top_k):
        return list(distances)
    head = ordered[REFERENCE_FLOOR - 1] + rule.margin * math.sqrt(D)
    tail = ordered[rule.reference(top_k) - 1] + rule.tail_margin * math.sqrt(D)
    return [key for key, h in distances.items() if h <= max(head, tail)]


@pytest.mark.parametrize("q", range(12))
@pytest.mark.parametrize("top_k", [1, 10, 30])
def test_adaptive_rescores_every_candidate_within_the_margin(
    stored: tuple[Collection, Corpus], q: int, top_k: int
) -> None:
    collection, corpus = stored
    candidates = _oracle_candidates(corpus, _query(q), top_k, DEFAULT_ADAPTIVE)
    assert len(candidates) < DEFAULT_ADAPTIVE.pool(top_k)  # the margin, not the pool's cap, decided
    scored, timings = collection.search_vectors(_query(q), top_k=top_k, **ADAPTIVE)
    assert timings["candidates"] == len(candidates)
    oracle = cosine_scores(corpus, _query(q), candidates)
    hits = _keys(collection, scored)
    assert [s for _, s in hits] == pytest.approx(best(oracle, top_k), abs=1e-6)
    assert all(key in oracle for key, _ in hits)


@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("top_k", [1, 5, 10, 50, 400, 500])
def test_adaptive_never_returns_fewer_than_top_k_when_there_are_that_many(
    stored: tuple[Collection, Corpus], margin: float, top_k: int
) -> None:
    collection, _ = stored
    searcher = Searcher(
        collection, HashEmbedder(D), adaptive=AdaptiveDepth(margin=margin, tail_margin=margin)
    )
    for q in range(3):
        result = searcher.search_embedded("q", _query(q), top_k=top_k, mode="binary+int8")
        assert len(result.hits) == min(top_k, 400)
        assert result.candidates is not None and min(top_k, 400) <= result.candidates <= 400
        if margin == 0.0 and top_k <= 400:
            assert result.candidates < max(top_k, REFERENCE_FLOOR) + 40  # ties at the reference only


# binary+int8 at multiplier 4 rescores max(4k, 100); hybrid's dense list is its top max(4k, 100), rescored
# from exactly that many candidates: the unbounded rules that fetch (and so rescore) the same pools
UNBOUNDED = {
    "binary+int8": AdaptiveDepth(margin=math.inf, max_multiplier=4, max_floor=MIN_CANDIDATES),
    "hybrid": AdaptiveDepth(margin=math.inf, max_multiplier=1, max_floor=MIN_CANDIDATES),
}


@pytest.mark.parametrize("mode", ["binary+int8", "hybrid"])  # hybrid: its list is its pool, either way
def test_an_infinite_margin_is_the_fixed_pool(stored: tuple[Collection, Corpus], mode: str) -> None:
    collection, _ = stored
    adaptive = Searcher(collection, HashEmbedder(D), adaptive=UNBOUNDED[mode])
    fixed = Searcher(collection, HashEmbedder(D))
    for q in range(6):
        for top_k in (1, 10, 40):
            got = adaptive.search_embedded("word1", _query(q), top_k=top_k, mode=mode)
            want = fixed.search_embedded("word1", _query(q), top_k=top_k, mode=mode, rescore_multiplier=4)
            assert got.hits == want.hits
            assert got.candidates == want.candidates == max(top_k * 4, MIN_CANDIDATES)


@pytest.mark.parametrize("spec", [{"group": 2}, {"group": {"$in": [1, 3]}, "lang": "en"}, {"lang": "xx"}])
def test_adaptive_applies_filters(stored: tuple[Collection, Corpus], spec: dict[str, Any]) -> None:
    collection, corpus = stored
    allowed = [
        key
        for key in corpus.keys
        if all(
            corpus.metadata[key[0]][field] in (value["$in"] if isinstance(value, dict) else [value])
            for field, value in spec.items()
        )
    ]
    for q in range(4):
        scored, timings = collection.search_vectors(_query(q), top_k=10, filter=spec, **ADAPTIVE)
        hits = _keys(collection, scored)
        assert len(hits) == min(10, len(allowed)) and all(key in allowed for key, _ in hits)
        if len(allowed) > DEFAULT_ADAPTIVE.pool(10):
            candidates = _oracle_candidates(corpus, _query(q), 10, DEFAULT_ADAPTIVE, allowed)
            assert timings["candidates"] == len(candidates)
        else:  # no more matches than the pool: every match is rescored
            candidates = allowed
        oracle = cosine_scores(corpus, _query(q), candidates) if candidates else {}
        assert [s for _, s in hits] == pytest.approx(best(oracle, 10), abs=1e-6)


def test_the_rule_checks_its_arguments_and_reads_sorted_distances() -> None:
    bad_rules: list[dict[str, Any]] = [
        {"margin": -1.0}, {"margin": math.nan}, {"tail_margin": -0.1}, {"max_multiplier": 0}, {"max_floor": 0}
    ]  # fmt: skip
    for bad in bad_rules:
        with pytest.raises(ValueError):
            AdaptiveDepth(**bad)
    rule = AdaptiveDepth(margin=0.5, tail_margin=0.25)  # 4 and 2 bits at d = 64
    distances = np.array([3, 3, 5, 6, 7, 9, 9, 9, 11, 12, 13, 13, 14, 14, 20, 21, 30], np.int32)
    assert rule.reference(3) == REFERENCE_FLOOR and rule.reference(12) == 12
    assert rule.depth(distances, 1, 64) == 14  # the 10th is 12: everything up to 16 bits
    assert rule.depth(distances, 10, 64) == 14  # the same pool up to top_k 10
    assert rule.depth(distances, 15, 64) == 16  # the 15th is 20: up to 22 bits (the head's 16 is less)
    assert rule.depth(distances[:10], 1, 64) == 10  # no more than the reference: all of them
    assert AdaptiveDepth(margin=0.0, tail_margin=0.0, reference_floor=2).depth(distances, 1, 64) == 2
    assert AdaptiveDepth(margin=math.inf).depth(distances, 1, 64) == len(distances)
    assert rule.pool(10) == 200 and rule.pool(50) == 500

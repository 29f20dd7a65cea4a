"""The Python API searches ``hybrid`` by default, and the candidate pools do not depend on ``top_k``: a
shorter result list is a prefix of a longer one (binary+int8 and hybrid) up to ``REFERENCE_FLOOR`` with the
adaptive depth (the default) and up to ``MIN_CANDIDATES / m`` with a fixed multiplier m."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from rag import DEFAULT_SEARCH_MODE, Searcher
from rag.embedding.fake import HashEmbedder
from rag.fingerprint import CollectionFingerprint
from rag.search import MIN_CANDIDATES
from rag.store import Collection, Library
from rag.store.depth import REFERENCE_FLOOR
from rag.types import SearchMode
from tests.rag.store.conftest import FINGERPRINT_CHUNKER, build_item

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()
)


@pytest.fixture
def collection(tmp_path: Path) -> Collection:
    embedder = HashEmbedder(64)
    library = Library(tmp_path / "data")
    fingerprint = CollectionFingerprint(embedder.fingerprint, FINGERPRINT_CHUNKER)
    collection = library.create_collection("docs", fingerprint=fingerprint)
    items = []
    for d in range(100):  # 300 chunks: more than MIN_CANDIDATES, so the pool size matters
        sentences = [
            " ".join(WORDS[(d * 7 + s * 3 + w) % len(WORDS)] for w in range(4 + (d + s) % 5)) + "."
            for s in range(3)
        ]
        items.append(build_item(embedder, f"d{d}", " ".join(sentences)))
    collection.upsert_documents(items)
    return collection


def test_default_mode_is_hybrid(collection: Collection) -> None:
    assert DEFAULT_SEARCH_MODE is SearchMode.HYBRID
    for method in (Searcher.search, Searcher.search_embedded):
        assert inspect.signature(method).parameters["mode"].default is SearchMode.HYBRID
    searcher = Searcher(collection, HashEmbedder(64))
    result = searcher.search("gamma delta sigma")
    assert result.mode is SearchMode.HYBRID
    assert result.hits == searcher.search("gamma delta sigma", mode="hybrid").hits
    assert result.timings["lexical"] > 0 and result.timings["hamming"] > 0
    assert searcher.search("gamma delta sigma", mode="binary+int8").mode is SearchMode.BINARY_INT8


@pytest.mark.parametrize("mode", ["binary+int8", "hybrid"])
@pytest.mark.parametrize("multiplier", [None, 4])
def test_shorter_lists_are_prefixes_of_longer_ones(
    collection: Collection, mode: str, multiplier: int | None
) -> None:
    searcher = Searcher(collection, HashEmbedder(64))
    longest = REFERENCE_FLOOR if multiplier is None else MIN_CANDIDATES // multiplier
    options = {"mode": mode, "rescore_multiplier": multiplier}
    for query in ("alpha beta", "rho sigma kappa", "omicron pi theta iota", "mu"):
        full = [h.chunk_id for h in searcher.search(query, top_k=longest, **options).hits]  # type: ignore[arg-type]
        assert len(full) == longest
        for top_k in (1, 2, 3, longest // 2):
            hits = searcher.search(query, top_k=top_k, **options).hits  # type: ignore[arg-type]
            assert [h.chunk_id for h in hits] == full[:top_k]


def test_pool_floor_checks_its_arguments(collection: Collection) -> None:
    searcher = Searcher(collection, HashEmbedder(64))
    for bad in ({"top_k": 0}, {"rescore_multiplier": 0}):
        with pytest.raises(Exception, match="positive integer"):
            searcher.search("alpha", mode="binary+int8", **bad)  # type: ignore[arg-type]

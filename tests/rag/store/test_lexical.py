"""The lexical stage (``rag/store/lexical.py``): tantivy BM25 top-k against the FTS5 ranking it replaced, and
the derived index kept right through upserts, deletes, filters, other handles and pruned tombstones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.store import Collection, Library
from rag.types import MetadataFilter, Scored
from tests.rag.store.conftest import MakeItem

# English words with a Zipf-like spread: a few in almost every chunk, most rare.
COMMON = ["the", "of", "and", "patients", "study", "results"]
RARE = (
    "vaccine protein receptor kinase mutation antibody neuron insulin tumour lipid enzyme genome virus "
    "infection therapy placebo cohort biopsy plasma cortex retina membrane bacteria fungal hormone "
    "lymphocyte macrophage cytokine oxidative mitochondria ribosome telomere apoptosis dosage toxicity "
    "gene expressed expressing expression cells cellular"
).split()


def _corpus(seed: int = 0, documents: int = 60) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    vocabulary = COMMON + RARE
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    texts = {}
    for d in range(documents):
        sentences = []
        for _ in range(int(rng.integers(3, 6))):
            words = rng.choice(vocabulary, size=int(rng.integers(6, 14)), p=weights)
            sentences.append(" ".join(words).capitalize() + ".")
        texts[f"doc{d}"] = " ".join(sentences)
    return texts


def _load(collection: Collection, make_item: MakeItem, texts: dict[str, str]) -> None:
    items = [make_item(doc_id, text, {"n": i}) for i, (doc_id, text) in enumerate(texts.items())]
    collection.upsert_documents(items)


def _both(
    collection: Collection, query: str, top_k: int, spec: MetadataFilter | None = None
) -> tuple[Scored, Scored]:
    with collection.reading() as view:
        return (
            view.bm25(query, top_k=top_k, filter=spec),
            view.bm25_fts5(query, top_k=top_k, filter=spec),
        )


QUERIES = [
    "vaccine antibody",
    "the patients of the study",  # only common words
    "tumour kinase mutation therapy",
    "gene expression in cells",  # stems: expressed / expressing / expression, cells / cellular
    "apoptosis and oxidative mitochondria",
    "virus infection placebo cohort results",
    "Insulin HORMONE dosage!",  # case and punctuation are not syntax
    'NEAR(vaccine "x" col:the *',  # FTS5 syntax in user text stays plain words
]


def test_bm25_ranks_as_fts5_did(collection: Collection, make_item: MakeItem) -> None:
    """The ranking FTS5 gave: the same top 10 for every query (FTS5's IDF, so common words weigh ~0 in
    both; stems agree on these words), each hit's score FTS5's own BM25 for that chunk. Higher is better."""
    _load(collection, make_item, _corpus())
    for query in QUERIES:
        new, everything = _both(collection, query, 1000)
        new, old = new[:10], everything[:10]
        assert len(new) == len(old) == 10, query
        assert [s for _, s in new] == sorted((s for _, s in new), reverse=True)
        assert {i for i, _ in new} == {i for i, _ in old}, query
        reference = dict(everything)
        assert all(score == pytest.approx(reference[i], rel=1e-2) for i, score in new), query


def test_query_without_terms_or_matches_is_empty(collection: Collection, make_item: MakeItem) -> None:
    _load(collection, make_item, _corpus(documents=5))
    for query in ("", "  ?! ", "zebra"):
        assert collection.bm25(query, top_k=5) == []


def test_upserts_and_deletes_are_seen_at_once(collection: Collection, make_item: MakeItem) -> None:
    _load(collection, make_item, _corpus(documents=20))
    assert collection.bm25("quasar", top_k=5) == []  # builds the index
    collection.upsert_documents([make_item("doc3", "A quasar was observed. Nothing else.")])
    hits = collection.hydrate(collection.bm25("quasar", top_k=5))
    assert [h.document_id for h in hits] == ["doc3"]
    collection.upsert_documents([make_item("doc3", "A pulsar replaced it.")])
    assert collection.bm25("quasar", top_k=5) == []
    assert [h.document_id for h in collection.hydrate(collection.bm25("pulsar", top_k=5))] == ["doc3"]
    collection.delete_documents(["doc3", "doc4"])
    found = collection.hydrate(collection.bm25("pulsar vaccine the", top_k=1000))
    assert {"doc3", "doc4"}.isdisjoint(h.document_id for h in found)
    live = {i for i, _ in collection.bm25("vaccine", top_k=1000)}
    with collection.reading() as view:
        assert live == {i for i, _ in view.bm25_fts5("vaccine", top_k=1000, filter=None)}


def test_filters_restrict_like_fts5(collection: Collection, make_item: MakeItem) -> None:
    _load(collection, make_item, _corpus())
    for spec in ({"n": {"$lt": 10}}, {"n": {"$in": [1, 2, 3]}}, {"n": 7}, {"n": -1}):
        new, old = _both(collection, "vaccine the antibody study", 1000, spec)
        assert {i for i, _ in new} == {i for i, _ in old}, spec
        hits = collection.hydrate(new)
        assert all(spec_matches(spec, h.metadata["n"]) for h in hits)


def spec_matches(spec: MetadataFilter, n: int) -> bool:
    condition = spec["n"]
    if isinstance(condition, dict) and "$lt" in condition:
        return bool(n < condition["$lt"])
    if isinstance(condition, dict):
        return bool(n in condition["$in"])
    return bool(n == condition)


def test_another_handle_catches_up_and_rebuilds_after_pruning(
    tmp_path: Path, collection: Collection, make_item: MakeItem
) -> None:
    """A second process's handle (its own library) sees the first one's writes; when a snapshot pruned
    the tombstones its lexical index would need, it rebuilds from SQLite instead of missing a delete."""
    _load(collection, make_item, _corpus(documents=10))
    other_library = Library(tmp_path / "data")
    try:
        other = other_library.open_collection("docs")
        assert other.bm25("quasar", top_k=5) == []
        collection.upsert_documents([make_item("doc1", "A quasar here.")])
        assert [h.document_id for h in other.hydrate(other.bm25("quasar", top_k=5))] == ["doc1"]
        collection.delete_documents(["doc1"])
        collection.upsert_documents([make_item("new", "Another quasar there.")])
        collection.save_index()  # prunes the tombstone of doc1's chunk
        assert [h.document_id for h in other.hydrate(other.bm25("quasar", top_k=5))] == ["new"]
    finally:
        other_library.close()


def test_load_index_builds_the_lexical_index_too(collection: Collection, make_item: MakeItem) -> None:
    _load(collection, make_item, _corpus(documents=5))
    assert collection._lexical.generation == -1
    collection.load_index()
    assert collection._lexical.generation == collection._vectors.generation >= 1

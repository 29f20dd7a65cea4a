"""The tantivy lexical index against FTS5 on what differs most between tokenizers and BM25 variants: the
tokens of tricky strings (diacritics, hyphens, numbers, apostrophes), the chunks each query finds, and the
scores themselves (FTS5's IDF, docs/storage.md)."""

from __future__ import annotations

import math
import sqlite3

import pytest

from rag.fingerprint import FTS_TOKENIZER
from rag.store import Collection
from rag.store.lexical import FTS5_MIN_IDF, analyzer, idf_boost
from tests.rag.store.conftest import MakeItem

TRICKY = [
    "Café au lait in Zürich, a résumé of Ångström's naïve work",  # diacritics, folded
    "COVID-19 is a state-of-the-art topic; TNF-α and IL-6 rose",  # hyphens split, Greek kept
    "1,000 patients took 3,5 mg in 2019-2020 (p<0,05) at 10^6 cells",  # digits are words
    "Don't stop: O'Brien's patients' rights, the doctors’ view",  # apostrophes split, both kinds
    "Studies studying cells: cellular activation and activities",  # shared Porter / Snowball stems
]


def fts5_tokens(text: str) -> list[str]:
    """The terms FTS5 indexes for ``text``, in order (from an ``fts5vocab`` instance table)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE f USING fts5(t, tokenize='{FTS_TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
        conn.execute("INSERT INTO f(t) VALUES (?)", (text,))
        return [row[0] for row in conn.execute("SELECT term FROM v ORDER BY offset")]
    finally:
        conn.close()


@pytest.mark.parametrize("text", TRICKY)
def test_tokens_match_fts5(text: str) -> None:
    assert analyzer().analyze(text) == fts5_tokens(text)


def test_each_query_finds_the_chunks_fts5_finds(collection: Collection, make_item: MakeItem) -> None:
    filler = [make_item(f"f{n}", f"Filler text number {n} about other things.") for n in range(8)]
    collection.upsert_documents([make_item(f"t{n}", text) for n, text in enumerate(TRICKY)] + filler)
    queries = {
        "cafe": "t0", "CAFÉ zurich": "t0", "angstrom": "t0", "resume": "t0",
        "covid": "t1", "19": "t1", "state of the art": "t1", "il-6": "t1", "α": "t1",
        "1,000": "t2", "2019": "t2", "mg": "t2",
        "don't": "t3", "O'Brien": "t3", "patient": "t3", "doctors": "t3",
        "study": "t4", "activate": "t4", "cell": "t4",
    }  # fmt: skip
    with collection.reading() as view:
        for query, document in queries.items():
            new = view.bm25(query, top_k=100, filter=None)
            old = view.bm25_fts5(query, top_k=100, filter=None)
            assert {i for i, _ in new} == {i for i, _ in old}, query
            assert document in {hit.document_id for hit in view.hydrate(new)}, query


def test_scores_are_fts5_bm25(collection: Collection, make_item: MakeItem) -> None:
    """Same IDF, k1, b and lengths: each hit's score is FTS5's for that chunk (within tantivy's length
    quantization, exact for short chunks), including words in most chunks, which FTS5 weighs ~0."""
    texts = [
        f"The study of the patients number {n} and the vaccine {'antibody ' * (n % 3)}" for n in range(30)
    ]
    collection.upsert_documents([make_item(f"d{n}", text) for n, text in enumerate(texts)])
    with collection.reading() as view:
        for query in ("vaccine antibody", "the study of patients", "antibody number 7", "the"):
            new = dict(view.bm25(query, top_k=100, filter=None))
            old = dict(view.bm25_fts5(query, top_k=100, filter=None))
            assert new.keys() == old.keys(), query
            for chunk_id, score in old.items():
                assert new[chunk_id] == pytest.approx(score, rel=1e-3, abs=1e-5), query


def test_idf_boost_turns_tantivy_idf_into_fts5s() -> None:
    ratio = (1000 - 10 + 0.5) / (10 + 0.5)
    assert idf_boost(1000, 10) * math.log1p(ratio) == pytest.approx(math.log(ratio))
    assert idf_boost(1000, 600) * math.log1p(400.5 / 600.5) == pytest.approx(FTS5_MIN_IDF)  # over half
    assert idf_boost(1000, 0) == 0.0 and idf_boost(0, 0) == 0.0
    assert idf_boost(10, 12) > 0.0  # deleted chunks still counted by tantivy: clamped, never negative

"""The lexical (BM25) stage: a tantivy index of chunk text, derived from SQLite like the vector state.

Why not FTS5 alone: ``ORDER BY bm25(...) LIMIT k`` scores every chunk that any query term matches, and FTS5's
``bm25()`` also counts each term's whole posting list per query, so a query holding a common word costs
O(chunks) (210 ms at 100k chunks, docs/storage.md). tantivy ranks with block-max WAND: posting blocks whose
best possible score cannot enter the top k are skipped, so the cost follows k and the rare terms, not N.

The index lives in memory, per process, at one SQLite ``generation``; it is never written to disk, so no kill
can leave it inconsistent: SQLite (documents, chunks and their FTS5 postings, in the same transactions as
before) stays the only durable state. ``refresh`` brings it to what a read transaction sees, by catching up
(tombstones and chunks newer than its generation) or by rebuilding from ``chunks`` (first use, or when the
tombstones it needs were pruned). Filters become a constant-score (0) clause over the matching chunk ids,
so scores stay plain BM25.

Scores follow FTS5's ``bm25()``, not tantivy's own IDF: each term's query is boosted by
``idf_fts5 / idf_tantivy``, where FTS5's ``idf = ln((N - n + 0.5) / (n + 0.5))`` (at least 1e-6) and
tantivy's ``ln(1 + (N - n + 0.5) / (n + 0.5))``; the term-frequency and length part is the same formula (k1
1.2, b 0.75) in both. tantivy's own IDF kept words in most chunks ("the", "of", "patients") at about 0.7
and cost 0.5 nDCG@10 point on SciFact (docs/storage.md); with FTS5's, such words weigh ~0 as before, and
block-max WAND skips their postings sooner. The boosts need each term's document frequency: one lookup per
term, cached until the next commit.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable

import tantivy

from rag.store.committed import Committed
from rag.store.lock import ReadWriteLock
from rag.types import IdArray, Scored

TEXT, ID = "text", "id"
ANALYZER = "rag_en"
MAX_QUERY_TERMS = 64
_TERM = re.compile(r"\w+")
FTS5_MIN_IDF = 1e-6  # FTS5's floor for terms in half the chunks or more (sqlite3 fts5_aux.c)
_MAX_CACHED_TERMS = 100_000
# tantivy wants a per-thread heap of at least 15 MB; one indexing thread (catch-ups are small).
_WRITER_HEAP = 64_000_000


def analyzer() -> tantivy.TextAnalyzer:
    """Words of letters and digits, lower-cased, accents folded, English (Snowball) stems: the closest
    tantivy has to FTS5's ``porter unicode61 remove_diacritics 2``."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(100))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # term frequencies without positions: BM25 needs no more (queries are bags of terms, no phrases)
    builder.add_text_field(TEXT, stored=False, tokenizer_name=ANALYZER, index_option="freq")
    builder.add_integer_field(ID, stored=False, indexed=True, fast=True)
    return builder.build()


class LexicalState:
    """BM25 top-k over the chunks of one collection, at ``generation`` (-1: not built yet)."""

    def __init__(self) -> None:
        self.generation = -1
        self._analyzer = analyzer()
        self._schema = _schema()
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._searcher: tantivy.Searcher | None = None
        self._boosts: dict[str, float] = {}  # term -> FTS5 / tantivy IDF at this searcher
        self._lock = ReadWriteLock()

    def refresh(self, conn: sqlite3.Connection, committed: Committed) -> None:
        """Catch up with (or rebuild from) what ``conn``'s open read transaction sees. A state already newer
        than that snapshot (another thread refreshed meanwhile) is kept, as the vector state does."""
        if committed.generation <= self.generation:
            return
        with self._lock.write():
            if committed.generation <= self.generation:
                return
            if self._index is None or self.generation < committed.pruned_through:
                self._rebuild(conn)
            else:
                self._catch_up(conn)
            self.generation = committed.generation

    def _rebuild(self, conn: sqlite3.Connection) -> None:
        index = tantivy.Index(self._schema)
        index.register_tokenizer(ANALYZER, self._analyzer)
        self._index, self._writer = index, index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        self._add(conn.execute("SELECT id, text FROM chunks"))
        self._commit()

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        assert self._writer is not None
        since = (self.generation,)
        dead = [row[0] for row in conn.execute("SELECT chunk_id FROM tombstones WHERE generation > ?", since)]
        if dead:
            self._writer.delete_documents_by_query(tantivy.Query.term_set_query(self._schema, ID, dead))
        self._add(conn.execute("SELECT id, text FROM chunks WHERE generation > ?", since))
        self._commit()

    def _add(self, rows: Iterable[tuple[int, str]]) -> None:
        assert self._writer is not None
        for chunk_id, text in rows:
            self._writer.add_document(tantivy.Document(**{TEXT: text, ID: int(chunk_id)}))

    def _commit(self) -> None:
        assert self._index is not None and self._writer is not None
        self._writer.commit()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._boosts = {}

    def terms(self, text: str) -> list[str]:
        """The distinct analyzed terms of a query (at most ``MAX_QUERY_TERMS`` words are read)."""
        words = list(dict.fromkeys(_TERM.findall(text.lower())))[:MAX_QUERY_TERMS]
        return list(dict.fromkeys(self._analyzer.analyze(" ".join(words)))) if words else []

    def search(self, text: str, top_k: int, allowed: IdArray | None) -> Scored:
        """(chunk id, BM25) best first, ties by the smaller id; ``allowed`` restricts to those chunk ids."""
        terms = self.terms(text)
        if not terms or top_k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        with self._lock.read():
            searcher = self._searcher
            if searcher is None:
                return []
            weighted = self._weighted(searcher, terms)
            if not weighted:
                return []
            # count=False: counting every match would defeat the block-max pruning
            hits = searcher.search(self._query(weighted, allowed), top_k, count=False).hits
            ids = searcher.fast_field_values(ID, [address for _, address in hits])
        scored = [
            (chunk_id, float(score))
            for (score, _), chunk_id in zip(hits, ids, strict=True)
            if isinstance(chunk_id, int)  # every indexed chunk has its id
        ]
        return sorted(scored, key=lambda pair: (-pair[1], pair[0]))

    def _weighted(self, searcher: tantivy.Searcher, terms: list[str]) -> list[tuple[str, float]]:
        """The terms present in the index, each with the boost that turns tantivy's IDF into FTS5's."""
        boosts, weighted = self._boosts, []
        for term in terms:
            boost = boosts.get(term)
            if boost is None:
                boost = idf_boost(searcher.num_docs, searcher.doc_freq(TEXT, term))
                if len(boosts) >= _MAX_CACHED_TERMS:
                    boosts.clear()
                boosts[term] = boost
            if boost > 0.0:
                weighted.append((term, boost))
        return weighted

    def _query(self, weighted: list[tuple[str, float]], allowed: IdArray | None) -> tantivy.Query:
        should = tantivy.Occur.Should
        text_query = tantivy.Query.boolean_query(
            [
                (should, tantivy.Query.boost_query(tantivy.Query.term_query(self._schema, TEXT, term), boost))
                for term, boost in weighted
            ]
        )
        if allowed is None:
            return text_query
        within = tantivy.Query.const_score_query(
            tantivy.Query.term_set_query(self._schema, ID, [int(i) for i in allowed]), 0.0
        )
        must = tantivy.Occur.Must
        return tantivy.Query.boolean_query([(must, text_query), (must, within)])


def idf_boost(chunks: int, frequency: int) -> float:
    """FTS5's IDF of a term in ``frequency`` of ``chunks`` chunks over tantivy's (0: the term is absent)."""
    if frequency <= 0 or chunks <= 0:
        return 0.0
    frequency = min(frequency, chunks)  # deleted chunks count in tantivy's until their segment merges
    ratio = (chunks - frequency + 0.5) / (frequency + 0.5)
    fts5 = math.log(ratio) if ratio > 1.0 else 0.0
    return max(fts5, FTS5_MIN_IDF) / math.log1p(ratio)

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
"""

from __future__ import annotations

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

    def terms(self, text: str) -> list[str]:
        """The distinct analyzed terms of a query (at most ``MAX_QUERY_TERMS`` words are read)."""
        words = list(dict.fromkeys(_TERM.findall(text.lower())))[:MAX_QUERY_TERMS]
        return list(dict.fromkeys(self._analyzer.analyze(" ".join(words)))) if words else []

    def search(self, text: str, top_k: int, allowed: IdArray | None) -> Scored:
        """(chunk id, BM25) best first, ties by the smaller id; ``allowed`` restricts to those chunk ids."""
        terms = self.terms(text)
        if not terms or top_k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        query = self._query(terms, allowed)
        with self._lock.read():
            searcher = self._searcher
            if searcher is None:
                return []
            # count=False: counting every match would defeat the block-max pruning
            hits = searcher.search(query, top_k, count=False).hits
            ids = searcher.fast_field_values(ID, [address for _, address in hits])
        scored = [
            (chunk_id, float(score))
            for (score, _), chunk_id in zip(hits, ids, strict=True)
            if isinstance(chunk_id, int)  # every indexed chunk has its id
        ]
        return sorted(scored, key=lambda pair: (-pair[1], pair[0]))

    def _query(self, terms: list[str], allowed: IdArray | None) -> tantivy.Query:
        should = tantivy.Occur.Should
        text_query = tantivy.Query.boolean_query(
            [(should, tantivy.Query.term_query(self._schema, TEXT, term)) for term in terms]
        )
        if allowed is None:
            return text_query
        within = tantivy.Query.const_score_query(
            tantivy.Query.term_set_query(self._schema, ID, [int(i) for i in allowed]), 0.0
        )
        must = tantivy.Occur.Must
        return tantivy.Query.boolean_query([(must, text_query), (must, within)])

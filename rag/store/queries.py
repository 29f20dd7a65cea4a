"""Read-side SQL of a collection: documents, chunks, hydration of hits, BM25, filter matches.

Functions take an open connection so the caller decides the transaction (one snapshot per request).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from rag.errors import DocumentNotFoundError
from rag.store.filters import compile_filter
from rag.types import ChunkRecord, Hit, IdArray, MetadataFilter, Scored, StoredDocument

_DOCUMENT_COLUMNS = (
    "id, source, title, content_hash, metadata, version, created_at, updated_at, chunk_count, settings_hash"
)
_TERM = re.compile(r"\w+")
MAX_QUERY_TERMS = 64


def _document(row: tuple[Any, ...]) -> StoredDocument:
    doc_id, source, title, content_hash, metadata, version, created, updated, chunks, settings_hash = row
    return StoredDocument(
        id=doc_id,
        source=source,
        title=title,
        content_hash=content_hash,
        metadata=json.loads(metadata),
        version=version,
        created_at=created,
        updated_at=updated,
        chunk_count=chunks,
        settings_hash=settings_hash,
    )


def get_document(conn: sqlite3.Connection, doc_id: str) -> StoredDocument:
    row = conn.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE id = ?", (doc_id,)).fetchone()
    if row is None:
        raise DocumentNotFoundError(f"No document {doc_id!r} in this collection.")
    return _document(row)


def list_documents(conn: sqlite3.Connection, limit: int, offset: int) -> list[StoredDocument]:
    sql = f"SELECT {_DOCUMENT_COLUMNS} FROM documents ORDER BY id LIMIT ? OFFSET ?"
    return [_document(row) for row in conn.execute(sql, (limit, offset))]


def get_chunks(conn: sqlite3.Connection, doc_id: str) -> list[ChunkRecord]:
    get_document(conn, doc_id)
    sql = (
        "SELECT ordinal, text, char_start, char_end, token_count, page FROM chunks "
        "WHERE document_id = ? ORDER BY ordinal"
    )
    return [ChunkRecord(*row) for row in conn.execute(sql, (doc_id,))]


def document_states(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    rows = conn.execute("SELECT id, content_hash, settings_hash FROM documents")
    return {doc_id: (content_hash, settings_hash) for doc_id, content_hash, settings_hash in rows}


def documents_by_source(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Ids by where each document was loaded from: ``root/source`` when it came from a folder (its
    ``root``), else its ``source`` as stored (uploads, caller documents, collections from before roots)."""
    result: dict[str, list[str]] = {}
    sql = "SELECT id, source, root FROM documents WHERE source IS NOT NULL ORDER BY id"
    for doc_id, source, root in conn.execute(sql):
        location = source if root is None else f"{root.rstrip('/')}/{source}"
        result.setdefault(location, []).append(doc_id)
    return result


def document_roots(conn: sqlite3.Connection) -> dict[str, tuple[str, str | None]]:
    """``id -> (root, source)`` of the documents that came from a folder (those with a root)."""
    rows = conn.execute("SELECT id, root, source FROM documents WHERE root IS NOT NULL")
    return {doc_id: (root, source) for doc_id, root, source in rows}


def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    return int(documents), int(chunks)


def hydrate(conn: sqlite3.Connection, scored: Scored) -> list[Hit]:
    """Hits for (chunk id, score) pairs in the given order; ids no longer stored are dropped."""
    if not scored:
        return []
    sql = (
        "SELECT c.id, c.document_id, c.text, c.char_start, c.char_end, c.page, c.ordinal, c.token_count, "
        "d.metadata, d.source, d.title FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE c.id IN (SELECT value FROM json_each(?))"
    )
    rows = {row[0]: row for row in conn.execute(sql, (json.dumps([int(i) for i, _ in scored]),))}
    hits: list[Hit] = []
    for chunk_id, score in scored:
        row = rows.get(chunk_id)
        if row is not None:
            _, doc_id, text, start, end, page, ordinal, tokens, metadata, source, title = row
            hits.append(
                Hit(
                    chunk_id=chunk_id,
                    document_id=doc_id,
                    score=float(score),
                    text=text,
                    metadata=json.loads(metadata),
                    char_start=start,
                    char_end=end,
                    page=page,
                    source=source,
                    title=title,
                    chunk_index=ordinal,
                    tokens=tokens,
                )
            )
    return hits


def chunk_range(
    conn: sqlite3.Connection, doc_id: str, first: int, last: int
) -> list[tuple[int, ChunkRecord]]:
    """(chunk id, chunk) of ``doc_id`` with ordinals in [first, last], in order (by the
    ``chunks_document`` index); an unknown document gives none."""
    sql = (
        "SELECT id, ordinal, text, char_start, char_end, token_count, page FROM chunks "
        "WHERE document_id = ? AND ordinal BETWEEN ? AND ? ORDER BY ordinal"
    )
    return [(row[0], ChunkRecord(*row[1:])) for row in conn.execute(sql, (doc_id, first, last))]


def matching_chunk_ids(conn: sqlite3.Connection, spec: MetadataFilter) -> IdArray:
    """Ids of the chunks whose document metadata matches ``spec``, ascending."""
    condition, params = compile_filter(spec)
    # documents first (the JSON is evaluated once per document, not per chunk), then their chunks by index
    sql = f"SELECT id FROM chunks WHERE document_id IN (SELECT d.id FROM documents d WHERE {condition})"
    ids = np.fromiter((row[0] for row in conn.execute(sql, params)), dtype=np.int64)
    ids.sort()
    return ids


class FilterCache:
    """Matching chunk ids per (generation, filter): a repeated filter costs no SQL until the next write."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str], IdArray] = OrderedDict()
        self._lock = threading.Lock()

    def matching(self, conn: sqlite3.Connection, generation: int, spec: MetadataFilter) -> IdArray:
        key = (generation, json.dumps(spec, sort_keys=True, default=repr))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        ids = matching_chunk_ids(conn, spec)  # raises on an invalid filter, which is never cached
        ids.flags.writeable = False
        with self._lock:
            self._entries[key] = ids
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return ids


def fts_query(text: str) -> str | None:
    """An FTS5 query that matches any term of ``text``: each term double-quoted (no operator or syntax
    survives quoting), ORed; None when the text has no terms."""
    terms = list(dict.fromkeys(_TERM.findall(text.lower())))[:MAX_QUERY_TERMS]
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def bm25(conn: sqlite3.Connection, text: str, top_k: int, spec: MetadataFilter | None) -> Scored:
    """(chunk id, score) best first; the score is SQLite's bm25() negated so that higher is better."""
    query = fts_query(text)
    if query is None or top_k <= 0:
        return []
    condition, params = compile_filter(spec)
    restrict = ""
    if spec:
        restrict = (
            "AND chunks_fts.rowid IN (SELECT id FROM chunks WHERE document_id IN "
            f"(SELECT d.id FROM documents d WHERE {condition}))"
        )
    sql = (
        "SELECT chunks_fts.rowid, bm25(chunks_fts) AS rank FROM chunks_fts "
        f"WHERE chunks_fts MATCH ? {restrict} "
        "ORDER BY rank, chunks_fts.rowid LIMIT ?"
    )
    rows = conn.execute(sql, [query, *(params if spec else []), top_k])
    return [(int(chunk_id), -float(rank)) for chunk_id, rank in rows]

"""Write-side SQL of a collection: meta values, validation, document upserts and deletes.

All functions run inside the caller's ``BEGIN IMMEDIATE`` transaction, under the collection write lock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import InvalidInputError
from rag.fingerprint import CollectionFingerprint
from rag.ids import check_document
from rag.index import INDEX_KINDS
from rag.jsonvalues import dumps_strict
from rag.store import schema
from rag.types import ChunkRecord, DocumentRecord, Embeddings

Item = tuple[DocumentRecord, Sequence[ChunkRecord], Embeddings]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def write_meta(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(key, value if isinstance(value, str) else json.dumps(value)) for key, value in values.items()],
    )


def validate_settings(settings: dict[str, Any]) -> None:
    kind = settings.get("index_type", "auto")
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"Setting index_type must be one of {', '.join(INDEX_KINDS)}, got {kind!r}.")
    target = settings.get("index_recall_target", 0.95)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1:
        raise InvalidInputError(f"Setting index_recall_target must be in (0, 1], got {target!r}.")
    for key in ("ivf_nlist", "ivf_nprobe", "index_auto_min_chunks"):
        value = settings.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"Setting {key} must be a positive integer, got {value!r}.")
    if not isinstance(settings.get("keep_floats", False), bool):
        raise InvalidInputError("Setting keep_floats must be true or false.")
    dumps_strict(settings, "Collection settings")


def validate_items(items: Sequence[Item], dimensions: int, keep_floats: bool) -> int:
    """Check a batch before anything is written; returns the embedding dimensions it uses."""
    seen: set[str] = set()
    for document, chunks, embeddings in items:
        if not isinstance(document.id, str) or not document.id:
            raise InvalidInputError("Every document needs a non-empty string id.")
        check_document(document.id, document.title, document.metadata)  # NUL, dot segments (rag/ids.py)
        if document.id in seen:
            raise InvalidInputError(f"Document {document.id!r} appears twice in one write.")
        seen.add(document.id)
        if len(chunks) != len(embeddings):
            raise InvalidInputError(
                f"Document {document.id!r} has {len(chunks)} chunks but {len(embeddings)} embedding rows."
            )
        if len(embeddings) and dimensions and embeddings.dimensions != dimensions:
            raise InvalidInputError(
                f"Document {document.id!r} has {embeddings.dimensions}-dimensional embeddings; "
                f"the collection holds {dimensions}."
            )
        if len(embeddings):
            dimensions = embeddings.dimensions
        if keep_floats and len(embeddings) and embeddings.floats is None:
            raise InvalidInputError(
                f"The collection keeps float vectors but document {document.id!r} came without them "
                "(embed with with_floats=True)."
            )
        dumps_strict(document.metadata, f"Metadata of {document.id!r}")
    return dimensions


def tombstone_document(conn: sqlite3.Connection, doc_id: str, generation: int) -> None:
    """Record the document's chunk ids as deleted at ``generation``, then delete them (FTS via trigger)."""
    conn.execute(
        "INSERT OR REPLACE INTO tombstones(chunk_id, generation) "
        "SELECT id, ? FROM chunks WHERE document_id = ?",
        (generation, doc_id),
    )
    conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))


def upsert_document(
    conn: sqlite3.Connection, item: Item, *, first_row: int, generation: int, settings_hash: str
) -> None:
    document, chunks, _ = item
    stamp = now()
    previous = conn.execute("SELECT version FROM documents WHERE id = ?", (document.id,)).fetchone()
    values = (
        document.source,
        document.root,
        document.title,
        document.content_hash,
        dumps_strict(document.metadata, f"Metadata of {document.id!r}"),
        stamp,
        settings_hash,
        len(chunks),
        document.id,
    )
    if previous is None:
        conn.execute(
            "INSERT INTO documents(source, root, title, content_hash, metadata, updated_at, settings_hash, "
            "chunk_count, id, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            (*values, stamp),
        )
    else:
        tombstone_document(conn, document.id, generation)
        conn.execute(
            "UPDATE documents SET source = ?, root = ?, title = ?, content_hash = ?, metadata = ?, "
            "updated_at = ?, settings_hash = ?, chunk_count = ?, version = version + 1 WHERE id = ?",
            values,
        )
    conn.executemany(
        "INSERT INTO chunks(document_id, ordinal, text, char_start, char_end, page, token_count, vector_row, "
        "generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                document.id,
                c.ordinal,
                c.text,
                c.char_start,
                c.char_end,
                c.page,
                c.token_count,
                first_row + i,
                generation,
            )
            for i, c in enumerate(chunks)
        ],
    )


def delete_document(conn: sqlite3.Connection, doc_id: str, generation: int) -> bool:
    if conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
        return False
    tombstone_document(conn, doc_id, generation)
    conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
    return True


def initialize(
    directory: Path, name: str, fingerprint: CollectionFingerprint, settings: dict[str, Any]
) -> None:
    """Create the database of a new collection in ``directory`` (not yet visible under its name)."""
    conn = schema.connect(directory / schema.DB_FILE)
    try:
        schema.migrate(conn)
        dimensions = fingerprint.embedder.dimensions
        conn.execute("BEGIN IMMEDIATE")
        write_meta(
            conn,
            {
                "name": name,
                "fingerprint": fingerprint.to_dict(),
                "settings": settings,
                "created_at": now(),
                "dimensions": int(dimensions),
                "generation": 0,
                "rows_committed": 0,
                "vector_generation": 0,
                "pruned_through": 0,
            },
        )
        conn.execute("COMMIT")
    finally:
        conn.close()

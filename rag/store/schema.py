"""The SQLite schema of one collection, its ordered migrations, and how connections are opened.

``PRAGMA user_version`` holds the schema version; ``MIGRATIONS[i]`` upgrades version ``i`` to ``i + 1``.
Each migration runs in its own transaction, so a crash mid-migration leaves the previous version intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from rag import fingerprint
from rag.errors import CorruptStoreError

DB_FILE = "collection.db"

# porter stemming on top of unicode61 suits the English corpora the project evaluates on; the tokenizer
# is fixed when a collection is created and recorded in its fingerprint under "fts".
FTS_TOKENIZER = fingerprint.FTS_TOKENIZER

_V1 = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    source TEXT,
    title TEXT,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    settings_hash TEXT NOT NULL DEFAULT '',
    chunk_count INTEGER NOT NULL
);
CREATE INDEX documents_source ON documents(source);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    page INTEGER,
    token_count INTEGER NOT NULL,
    vector_row INTEGER NOT NULL,
    generation INTEGER NOT NULL
);
CREATE INDEX chunks_document ON chunks(document_id, ordinal);
CREATE INDEX chunks_generation ON chunks(generation);
CREATE TABLE tombstones (chunk_id INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
CREATE INDEX tombstones_generation ON tombstones(generation);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='{FTS_TOKENIZER}'
);
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    for statement in _split(_V1):
        conn.execute(statement)


def _split(script: str) -> list[str]:
    """Statements of a script; triggers keep their inner ``;`` (they end with ``END;``)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.endswith("END;")):
            statements.append(text)
            current = []
    return statements


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    """Documents gain ``root``: the absolute folder their (relative) ``source`` lies in, for ``--sync``."""
    conn.execute("ALTER TABLE documents ADD COLUMN root TEXT")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_v1, _migrate_to_v2]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, full fsync on commit."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # the first read of the file: garbage fails here
        # FULL: a commit that returned survives power loss too, not only a killed process.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    return conn


# SQLite's primary result codes for a damaged file: the image is malformed (also FTS5's CORRUPT_VTAB),
# or the file is not a database at all. Busy, I/O and misuse errors are not corruption.
_CORRUPTION_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def is_corruption(exc: sqlite3.Error) -> bool:
    """Whether a SQLite error means the database file itself cannot be read back."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # raised by the module, not by SQLite: never a verdict on the file
        return False
    return int(code) & 0xFF in _CORRUPTION_CODES


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database up to ``SCHEMA_VERSION`` (the caller holds the collection's write lock)."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise CorruptStoreError(
            f"The collection uses schema version {version}, newer than this program's {SCHEMA_VERSION}; "
            "upgrade the program."
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[target - 1](conn)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

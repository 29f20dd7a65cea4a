"""One collection: a SQLite database (WAL) plus vector row files and a derived binary index.

Write protocol (crash safety, docs/storage.md): under the collection's write lock, (1) cut the row files back
to the committed row count, (2) append the new rows and fsync, (3) in ONE SQLite transaction tombstone the
replaced chunks, write documents, chunks (FTS follows by trigger) and the new row count / generation, commit.
A kill before (3) commits leaves rows nothing refers to; SQLite rolls back a half-done (3). The in-memory
index is derived: every read brings it to the generation its SQLite snapshot sees.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import (
    CollectionNotFoundError,
    CorruptStoreError,
    InvalidInputError,
    StoreLockedError,
)
from rag.fingerprint import CollectionFingerprint
from rag.scan_batcher import ScanPolicy, ScanStats
from rag.store import checks, compaction, queries, schema, writes
from rag.store.committed import committed_from
from rag.store.lexical import LexicalState
from rag.store.lock import WriteLock
from rag.store.rows import RowFiles
from rag.store.vectors import VectorState
from rag.store.view import CollectionView
from rag.types import (
    ChunkRecord,
    CollectionInfo,
    Embeddings,
    Hit,
    MetadataFilter,
    Scored,
    SearchMode,
    StoredDocument,
)

DB_FILE = schema.DB_FILE
LOCK_FILE = "write.lock"


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, None when it does not exist. While a handle keeps its database open
    the inode cannot be reused, so a different identity means a different file."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino)


class Collection:
    """Documents, chunks and vectors of one collection. Thread-safe; one writer at a time across processes."""

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        lock_timeout: float = 10.0,
        scans: ScanPolicy = ScanPolicy(),
        on_close: Callable[[Collection], None] | None = None,
    ) -> None:
        self.name = name
        self.directory = directory
        self._lock = WriteLock(directory / LOCK_FILE, timeout=lock_timeout)
        self._on_close = on_close
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._vectors = VectorState(directory, scans=scans)
        self._lexical = LexicalState()
        self._filters = queries.FilterCache()
        self._closed = False
        self._fingerprint: CollectionFingerprint | None = None
        # Which database file this handle opened (taken before connecting: a swap in between only makes
        # the first check drop the handle). Another process may delete or re-create the collection
        # (``rag delete``); every transaction compares the file now under the name with this one.
        self._identity = file_identity(directory / DB_FILE)
        try:
            with self._translated():
                self._writer = self._connect()
                self._upgrade()
        except BaseException:
            self._close_connections()  # a collection that failed to open holds no file handles
            raise

    def _upgrade(self) -> None:
        version = schema.schema_version(self._writer)
        if version == 0:  # only initialize() starts from 0: here the file lost its schema (emptied)
            raise self._corrupt("it holds no collection schema")
        if version < schema.SCHEMA_VERSION:
            with self._lock.hold():
                schema.migrate(self._writer)

    # -- connections, transactions and their errors ----------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = schema.connect(self.directory / DB_FILE)
        with self._connections_lock:
            if not self._closed:
                self._connections.append(conn)
                return conn
        conn.close()  # closed meanwhile: close() would never see this connection
        raise self._gone()

    def _check_open(self) -> None:
        if self._closed:
            raise self._gone()
        if not self.is_current():
            self.close_stale()
            raise self._gone()

    def is_current(self) -> bool:
        """Whether the collection's name still leads to the database this handle opened: False once
        another process deleted it, or deleted and created it again (an os.stat, ~1 us)."""
        return not self._closed and file_identity(self.directory / DB_FILE) == self._identity

    def close_stale(self) -> None:
        """Close a handle whose database was deleted or replaced under it, without the index snapshot
        ``close`` writes (the folder belongs to someone else now), and leave the library."""
        self._close_connections()
        if self._on_close is not None:
            self._on_close(self)

    def _gone(self) -> CollectionNotFoundError:
        # A closed handle is what a caller sees when the collection was deleted under it (delete closes
        # the shared handle first): to the caller the collection no longer exists.
        return CollectionNotFoundError(
            f"Collection {self.name!r} is no longer open: it was deleted (here or by another process), "
            "or its library was closed (open it again from the library)."
        )

    def _corrupt(self, reason: str) -> CorruptStoreError:
        return CorruptStoreError(
            f"Collection {self.name!r} is corrupt: its database ({self.name}/{DB_FILE}) cannot be read "
            f"({reason}). The other collections are unaffected; restore this one from a backup, or delete "
            "it and ingest its documents again."
        )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn SQLite's errors at the store's edge into the store's own: a damaged file is
        ``CorruptStoreError``, a connection closed under a running call is ``CollectionNotFoundError``."""
        try:
            yield
        except sqlite3.ProgrammingError as exc:  # "Cannot operate on a closed database."
            if self._closed:
                raise self._gone() from exc
            raise
        except FileNotFoundError as exc:  # the folder went away (deleted elsewhere) under a write
            if not self.is_current():
                self.close_stale()
                raise self._gone() from exc
            raise
        except sqlite3.DatabaseError as exc:
            if schema.is_corruption(exc):
                raise self._corrupt(str(exc)) from exc
            raise

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (a consistent WAL snapshot) on this thread's own connection."""
        with self._translated():
            self._check_open()
            conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connect()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._translated():
            self._check_open()
            with self._lock.hold():
                self._check_open()  # closed (deleted) while this call waited for the lock
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    raise
                self._writer.execute("COMMIT")

    # -- description ---------------------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        with self._reading() as conn:
            return writes.read_meta(conn)

    @property
    def fingerprint(self) -> CollectionFingerprint:
        """What built the collection. Fixed at creation, so read once per handle."""
        if self._fingerprint is None:
            self._fingerprint = CollectionFingerprint.from_dict(json.loads(self._meta()["fingerprint"]))
        return self._fingerprint

    @property
    def settings(self) -> dict[str, Any]:
        return dict(json.loads(self._meta()["settings"]))

    @property
    def scan_stats(self) -> ScanStats:
        """Batched Hamming scans of this handle so far (concurrent searches share one scan)."""
        return self._vectors.scan_stats

    def info(self) -> CollectionInfo:
        with self._reading() as conn:
            meta = writes.read_meta(conn)
            documents, chunks = queries.counts(conn)
        fingerprint, settings = json.loads(meta["fingerprint"]), json.loads(meta["settings"])
        return CollectionInfo(self.name, documents, chunks, fingerprint, settings)

    def update_settings(self, values: dict[str, Any]) -> None:
        """Merge ``values`` into the settings (e.g. a tuned ``hybrid`` entry, ``index_type``)."""
        with self._writing() as conn:
            meta = writes.read_meta(conn)
            current = json.loads(meta["settings"])
            merged = {**current, **values}
            writes.validate_settings(merged)
            floats_changed = bool(merged.get("keep_floats", False)) != bool(current.get("keep_floats", False))
            if floats_changed and int(meta["rows_committed"]) > 0:
                raise InvalidInputError("keep_floats can only change while the collection holds no vectors.")
            writes.write_meta(conn, {"settings": merged})

    # -- writes ----------------------------------------------------------------------------------------

    def upsert_documents(self, items: Sequence[writes.Item], *, settings_hash: str = "") -> None:
        """Store documents with their chunks and embeddings in one atomic, durable write (replaces by id)."""
        items = list(items)
        if not items:
            return
        with self._writing() as conn:
            committed = committed_from(writes.read_meta(conn))
            dimensions = writes.validate_items(items, committed.dimensions, committed.keep_floats)
            generation = committed.generation + 1
            row = committed.rows
            batch = [embeddings for _, _, embeddings in items if len(embeddings)]
            if batch:
                files = RowFiles(
                    self.directory, committed.vector_generation, dimensions, keep_floats=committed.keep_floats
                )
                files.truncate(row)
                files.append(row, checks.concatenate(batch, committed.keep_floats))
            for item in items:
                writes.upsert_document(
                    conn, item, first_row=row, generation=generation, settings_hash=settings_hash
                )
                row += len(item[2])
            writes.write_meta(
                conn, {"generation": generation, "rows_committed": row, "dimensions": dimensions}
            )

    def delete_documents(self, ids: Sequence[str]) -> int:
        """Delete documents by id; returns how many existed."""
        with self._writing() as conn:
            generation = int(writes.read_meta(conn)["generation"]) + 1
            deleted = sum(writes.delete_document(conn, doc_id, generation) for doc_id in dict.fromkeys(ids))
            if deleted:
                writes.write_meta(conn, {"generation": generation})
        return deleted

    # -- reads -----------------------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> StoredDocument:
        with self._reading() as conn:
            return queries.get_document(conn, doc_id)

    def get_chunks(self, doc_id: str) -> list[ChunkRecord]:
        with self._reading() as conn:
            return queries.get_chunks(conn, doc_id)

    def list_documents(self, *, limit: int = 100, offset: int = 0) -> list[StoredDocument]:
        if not (0 <= limit < 2**63 and 0 <= offset < 2**63):  # SQLite's integers are 64-bit
            raise InvalidInputError("limit and offset must be between 0 and 2**63 - 1.")
        with self._reading() as conn:
            return queries.list_documents(conn, limit, offset)

    def document_states(self) -> dict[str, tuple[str, str]]:
        with self._reading() as conn:
            return queries.document_states(conn)

    def documents_by_source(self) -> dict[str, list[str]]:
        with self._reading() as conn:
            return queries.documents_by_source(conn)

    def document_roots(self) -> dict[str, tuple[str, str | None]]:
        """``id -> (root, source)`` of the documents ingested from a folder (for the collision check)."""
        with self._reading() as conn:
            return queries.document_roots(conn)

    @contextmanager
    def reading(self) -> Iterator[CollectionView]:
        """One read snapshot for several reads (a search and its hydration see the same commit)."""
        with self._reading() as conn:
            yield CollectionView(conn, self._vectors, self._lexical, self._filters)

    def hydrate(self, scored: Scored) -> list[Hit]:
        with self.reading() as view:
            return view.hydrate(scored)

    def bm25(self, query_text: str, *, top_k: int = 10, filter: MetadataFilter | None = None) -> Scored:
        """BM25 over chunk text, higher is better; any text is safe (see ``CollectionView.bm25``)."""
        with self.reading() as view:
            return view.bm25(query_text, top_k=top_k, filter=filter)

    def search_vectors(
        self,
        query: Embeddings,
        *,
        mode: SearchMode | str = SearchMode.BINARY_INT8,
        top_k: int = 10,
        rescore_multiplier: int | None = None,
        filter: MetadataFilter | None = None,
    ) -> tuple[Scored, dict[str, float]]:
        """(chunk id, score) best first for ONE query, and stage timings in ms (``hamming``, ``rescore``;
        ``binary+int8`` adds ``candidates``, how many it rescored). By default (``rescore_multiplier=None``)
        ``binary+int8`` picks them adaptively (``rag.store.depth.DEFAULT_ADAPTIVE``), as ``Searcher`` does;
        a multiplier m rescores a fixed ``top_k x m``."""
        with self.reading() as view:
            return view.search_vectors(
                query,
                mode=SearchMode.parse(mode),
                top_k=top_k,
                rescore_multiplier=rescore_multiplier,
                filter=filter,
            )

    def load_index(self) -> None:
        """Build (or catch up) the in-memory vector and lexical indexes now, e.g. at service start (else the
        first search does)."""
        with self._reading() as conn:
            committed = committed_from(writes.read_meta(conn))
            self._vectors.refresh(conn, committed)
            self._lexical.refresh(conn, committed)

    def compact(self) -> int:
        """Reclaim the row-file space of replaced and deleted chunks; returns the dead rows dropped."""
        with self._writing() as conn:
            return compaction.compact(conn, self.directory, committed_from(writes.read_meta(conn)))

    # -- lifetime --------------------------------------------------------------------------------------

    def save_index(self) -> None:
        """Snapshot the binary index (training IVF first when due) and prune the tombstones it covers."""
        with self._writing() as conn:
            committed = committed_from(writes.read_meta(conn))
            self._vectors.refresh(conn, committed)
            self._vectors.train_if_due(conn, committed)
            self._vectors.save_snapshot()
            if self._lexical.generation >= 0:  # built here: catch it up before its tombstones go
                self._lexical.refresh(conn, committed)
            generation = self._vectors.generation
            conn.execute("DELETE FROM tombstones WHERE generation <= ?", (generation,))
            writes.write_meta(conn, {"pruned_through": generation})

    def close(self) -> None:
        """Snapshot the index when this process built one and no other writer is busy, then close."""
        if self._closed:
            return
        if self._vectors.generation > max(self._vectors.snapshot_generation, 0):
            try:
                self._lock_free_save()
            except StoreLockedError:
                pass  # another writer is busy; the next opener rebuilds or catches up instead
            except CorruptStoreError:
                pass  # the snapshot is derived; a damaged database must still close (and be deletable)
        self._close_connections()
        if self._on_close is not None:
            self._on_close(self)

    def _close_connections(self) -> None:
        with self._connections_lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def _lock_free_save(self) -> None:
        with self._lock.hold(timeout=0):
            self.save_index()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

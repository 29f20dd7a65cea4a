"""The library: the collections under ``<data_dir>/collections/<name>/``.

A collection appears under its name only when complete: it is built in a hidden temporary folder and
renamed into place (atomic), and deleted by renaming it away first. ``open_collection`` returns one shared
``Collection`` per name and process; ``Collection.close`` drops it from the library.
"""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from rag.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    ConfigError,
    CorruptStoreError,
    InvalidInputError,
)
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint, EmbedderFingerprint, check_compatible
from rag.scan_batcher import ScanPolicy, ScanStats
from rag.store import writes
from rag.store.collection import DB_FILE, LOCK_FILE, Collection
from rag.store.lock import WriteLock
from rag.store.rows import fsync_directory
from rag.types import CollectionInfo

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"Invalid collection name {name!r}: use 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit."
        )


class Library:
    """All collections under one data folder."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        lock_timeout: float = 10.0,
        scans: ScanPolicy = ScanPolicy(),
    ) -> None:
        """``scans``: how concurrent Hamming scans of each flat index are grouped."""
        self.data_dir = Path(data_dir)
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ConfigError(
                f"the data folder {self.data_dir} is not a folder (set --data-dir or RAG_DATA_DIR)."
            )
        self.root = self.data_dir / "collections"
        self.lock_timeout = lock_timeout
        self.scans = scans
        self._open: dict[str, Collection] = {}
        self._guard = threading.RLock()
        self._remove_unfinished_deletes()

    def _remove_unfinished_deletes(self) -> None:
        """Remove ``.deleting-*`` folders a delete killed between its rename and its removal left behind
        (already invisible, so nothing reads them; two processes removing one at once is harmless)."""
        if self.root.is_dir():
            for trash in self.root.glob(".deleting-*"):
                shutil.rmtree(trash, ignore_errors=True)

    def _path(self, name: str) -> Path:
        check_name(name)
        return self.root / name

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection by name. One that cannot be read is listed with counts -1 and its ``error``
        rather than failing the whole listing: each collection is its own database, so the rest are fine."""
        if not self.root.is_dir():
            return []
        names = sorted(
            p.name for p in self.root.iterdir() if NAME_PATTERN.match(p.name) and (p / DB_FILE).exists()
        )
        return [info for info in map(self._describe, names) if info is not None]

    def _describe(self, name: str) -> CollectionInfo | None:
        try:
            return self.open_collection(name).info()
        except CollectionNotFoundError:
            return None  # deleted since the folder was listed
        except CorruptStoreError as exc:
            return CollectionInfo(name, -1, -1, {}, {}, error=exc.message)

    def create_collection(
        self, name: str, *, fingerprint: CollectionFingerprint, settings: dict[str, Any] | None = None
    ) -> Collection:
        path = self._path(name)
        if not isinstance(fingerprint, CollectionFingerprint):
            raise InvalidInputError("A collection fingerprint must be a rag.CollectionFingerprint.")
        settings = dict(settings or {})
        writes.validate_settings(settings)
        if path.exists():
            raise CollectionExistsError(f"Collection {name!r} exists already.")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".creating-{name}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            writes.initialize(staging, name, fingerprint, settings)
            fsync_directory(staging)
            try:
                staging.rename(path)
            except OSError as exc:  # a non-empty folder of that name appeared meanwhile
                raise CollectionExistsError(f"Collection {name!r} exists already.") from exc
            fsync_directory(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.open_collection(name)

    def open_collection(
        self,
        name: str,
        *,
        embedder: EmbedderFingerprint | None = None,
        chunker: ChunkerFingerprint | None = None,
    ) -> Collection:
        """The shared handle of ``name``; with ``embedder`` (and ``chunker``), checked against what built
        it (``FingerprintMismatchError`` names each difference)."""
        path = self._path(name)
        with self._guard:
            collection = self._open.get(name)
            if collection is not None and not collection.is_current():
                # deleted, or deleted and created again, by another process: drop the stale handle
                collection.close_stale()
                collection = None
            if collection is None:
                if not (path / DB_FILE).exists():
                    raise CollectionNotFoundError(f"No collection named {name!r} in {self.data_dir}.")
                collection = Collection(
                    path,
                    name,
                    lock_timeout=self.lock_timeout,
                    scans=self.scans,
                    on_close=self._forget,
                )
                self._open[name] = collection
        if embedder is not None:
            check_compatible(name, collection.fingerprint, embedder=embedder, chunker=chunker)
        return collection

    def get_or_create_collection(
        self, name: str, *, fingerprint: CollectionFingerprint, settings: dict[str, Any] | None = None
    ) -> Collection:
        """The collection, checked against ``fingerprint``, or a new one built with it."""
        embedder, chunker = fingerprint.embedder, fingerprint.chunker
        try:
            return self.open_collection(name, embedder=embedder, chunker=chunker)
        except CollectionNotFoundError:
            pass
        try:
            return self.create_collection(name, fingerprint=fingerprint, settings=settings)
        except CollectionExistsError:  # created by someone else in between
            return self.open_collection(name, embedder=embedder, chunker=chunker)

    def delete_collection(self, name: str) -> None:
        path = self._path(name)
        if not (path / DB_FILE).exists():
            raise CollectionNotFoundError(f"No collection named {name!r} in {self.data_dir}.")
        with self._guard:
            collection = self._open.pop(name, None)
        if collection is not None:
            collection.close()
        # hold the writer lock so no write is half-way through while the folder goes away
        with WriteLock(path / LOCK_FILE, timeout=self.lock_timeout).hold():
            trash = self.root / f".deleting-{name}-{uuid.uuid4().hex}"
            path.rename(trash)
            fsync_directory(self.root)
        shutil.rmtree(trash, ignore_errors=True)

    def scan_stats(self) -> ScanStats:
        """Batched Hamming scans (batches, queries) summed over the open collection handles."""
        total = ScanStats()
        with self._guard:
            for collection in self._open.values():
                stats = collection.scan_stats
                total.batches += stats.batches
                total.queries += stats.queries
                total.largest = max(total.largest, stats.largest)
        return total

    def close(self) -> None:
        with self._guard:
            collections = list(self._open.values())
        for collection in collections:
            collection.close()

    def _forget(self, collection: Collection) -> None:
        with self._guard:
            if self._open.get(collection.name) is collection:
                del self._open[collection.name]

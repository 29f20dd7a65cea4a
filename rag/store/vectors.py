"""The in-memory vector state of a collection, derived from SQLite + row files, and vector search.

State = binary index (chunk id -> sign bits), ``id_to_row`` (chunk id -> row of the row files) and mmapped
row views, all at one SQLite ``generation``. ``refresh`` brings it to the generation a read transaction sees:
by catching up (tombstones and chunks newer than the state's generation) or by rebuilding. The snapshot
file (see ``snapshot.py``) only shortens the rebuild; SQLite stays the source of truth.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from rag.errors import InvalidInputError
from rag.index import BinaryIndex, hamming_top_k
from rag.scan_batcher import ScanPolicy, ScanStats
from rag.store import snapshot
from rag.store.committed import Committed
from rag.store.depth import DEFAULT_ADAPTIVE, AdaptiveDepth
from rag.store.lock import ReadWriteLock
from rag.store.rows import RowViews
from rag.store.scoring import exact_cosine, rescore_top_k, top_k
from rag.timing import elapsed_ms
from rag.types import Embeddings, IdArray, Scored, SearchMode


class VectorState:
    def __init__(self, directory: Path, *, scans: ScanPolicy = ScanPolicy()) -> None:
        self.directory = directory
        self.scans = scans
        self.generation = -1
        self.snapshot_generation = -1
        self._layout: tuple[int, int, bool, str, int] | None = None
        self._index: BinaryIndex | None = None
        self._id_to_row = np.full(0, -1, dtype=np.int64)
        self._views: RowViews | None = None
        self._lock = ReadWriteLock()
        # batched flat scans over this state's lifetime (every index it builds counts here)
        self.scan_stats = ScanStats()

    def refresh(self, conn: sqlite3.Connection, committed: Committed) -> None:
        """Catch up with (or rebuild from) what ``conn``'s open read transaction sees.

        A state already NEWER than that snapshot (another thread refreshed meanwhile) is kept: going back
        would pair the newer index with the older, shorter row maps.
        """
        if self._current(committed):
            return
        with self._lock.write():
            if self._current(committed):
                return
            if committed.dimensions == 0:
                self._reset(committed, None, np.full(0, -1, dtype=np.int64))
            elif self._can_catch_up(committed):
                self._catch_up(conn, committed)
            else:
                self._rebuild(conn, committed)

    def _current(self, committed: Committed) -> bool:
        return committed.layout() == self._layout and committed.generation <= self.generation

    def _can_catch_up(self, committed: Committed) -> bool:
        return (
            self._index is not None
            and self._layout == committed.layout()
            and self.generation >= committed.pruned_through
        )

    def _reset(self, committed: Committed, index: BinaryIndex | None, id_to_row: IdArray) -> None:
        self._index = index
        if index is not None:
            index.batch_scans(self.scan_stats, self.scans)
        self._id_to_row = id_to_row
        self._views = committed.files(self.directory).views(committed.rows) if committed.dimensions else None
        self.generation = committed.generation
        self._layout = committed.layout()

    def _rebuild(self, conn: sqlite3.Connection, committed: Committed) -> None:
        loaded = snapshot.load(self.directory, committed)
        if loaded is not None and loaded[0] >= committed.pruned_through:
            generation, index, id_to_row = loaded
            self._reset(committed, index, id_to_row)
            self.generation = self.snapshot_generation = generation
            self._catch_up(conn, committed)
            return
        self._reset(committed, *self._build(conn, committed))

    def _build(self, conn: sqlite3.Connection, committed: Committed) -> tuple[BinaryIndex, IdArray]:
        """A new index and id map from SQLite + the bits file (IVF is trained here when due)."""
        ids, rows = _fetch_pairs(conn, "SELECT id, vector_row FROM chunks ORDER BY id", ())
        views = committed.files(self.directory).views(committed.rows)
        index = BinaryIndex.build(
            committed.dimensions,
            ids,
            np.asarray(views.bits[rows]),
            kind=committed.index_kind,
            nlist=committed.nlist,
            nprobe=committed.nprobe,
            auto_min_chunks=committed.auto_min_chunks,
            recall_target=committed.recall_target,
        )
        return index, _id_map(ids, rows, np.full(0, -1, dtype=np.int64))

    def train_if_due(self, conn: sqlite3.Connection, committed: Committed) -> None:
        """Turn the flat index of an ``ivf`` / ``auto`` collection into a trained IVF once it is due.

        Catch-up only adds to the index it has, so an IVF collection that started small stays flat until
        this runs (from ``save_index``, under the collection write lock, so nothing commits meanwhile).
        Training runs without the state lock: searches go on against the flat index until the swap.
        """
        index = self._index
        if index is None or not index.due_for_training(len(index)):
            return
        trained, id_to_row = self._build(conn, committed)
        with self._lock.write():
            self._reset(committed, trained, id_to_row)

    @property
    def index_kind(self) -> str | None:
        """The kind of index in use (``flat`` or ``ivf``), None before the first refresh."""
        return None if self._index is None else self._index.kind

    def _catch_up(self, conn: sqlite3.Connection, committed: Committed) -> None:
        assert self._index is not None
        since = (self.generation,)
        dead = np.array(
            [r[0] for r in conn.execute("SELECT chunk_id FROM tombstones WHERE generation > ?", since)]
        )
        ids, rows = _fetch_pairs(
            conn, "SELECT id, vector_row FROM chunks WHERE generation > ? ORDER BY id", since
        )
        views = committed.files(self.directory).views(committed.rows)
        dead = dead.astype(np.int64)
        self._index.remove(dead)
        id_to_row = self._id_to_row.copy()
        id_to_row[dead[dead < len(id_to_row)]] = -1
        self._index.add(ids, np.asarray(views.bits[rows]))
        self._reset(committed, self._index, _id_map(ids, rows, id_to_row))

    def save_snapshot(self) -> None:
        """Write the index at its generation (atomic replace); the caller holds the collection write lock."""
        with self._lock.read():
            if self._index is not None and self._layout is not None:
                snapshot.save(self.directory, self.generation, self._layout, self._index, self._id_to_row)
                self.snapshot_generation = self.generation

    def search(
        self,
        query: Embeddings,
        *,
        mode: SearchMode,
        k: int,
        multiplier: int | None,
        allowed: IdArray | None,
        nprobe: int | None = None,
        adaptive: AdaptiveDepth = DEFAULT_ADAPTIVE,
    ) -> tuple[Scored, dict[str, float]]:
        """Best ``k`` (chunk id, score) pairs for the single query in ``query``, and stage timings (ms).

        ``binary+int8`` rescores ``k x multiplier`` Hamming candidates, or, with ``multiplier=None``, as many
        as ``adaptive`` picks from their distances (``rag.store.depth``); its timings then also hold
        ``candidates``, the number rescored."""
        with self._lock.read():
            if self._index is None or self._views is None or len(self._index) == 0:
                return [], {}
            if allowed is not None:
                inside = allowed[allowed < len(self._id_to_row)]
                allowed = inside[self._id_to_row[inside] >= 0]
            if mode in (SearchMode.BINARY, SearchMode.BINARY_INT8):
                return self._search_binary(query, mode, k, multiplier, allowed, nprobe, adaptive)
            return self._search_exact(query, mode, k, allowed)

    def _search_binary(
        self,
        query: Embeddings,
        mode: SearchMode,
        k: int,
        multiplier: int | None,
        allowed: IdArray | None,
        nprobe: int | None,
        adaptive: AdaptiveDepth,
    ) -> tuple[Scored, dict[str, float]]:
        assert self._index is not None and self._views is not None
        if mode is SearchMode.BINARY:
            depth = k
        else:
            depth = adaptive.pool(k) if multiplier is None else k * multiplier
        started = time.perf_counter()
        if allowed is not None and mode is SearchMode.BINARY_INT8 and len(allowed) <= depth:
            ids = allowed  # every match is a candidate: the Hamming stage cannot narrow them further
            distances = np.zeros(len(ids), np.int32)
        elif allowed is not None and self._index.prefers_subset_scan(len(allowed), nprobe):
            ids, distances = self._subset_scan(query, allowed, depth)
        else:
            ids, distances = self._index.search(query.bits[0], depth, allowed=allowed, nprobe=nprobe)
            if allowed is not None and len(ids) < min(depth, len(allowed)):
                ids, distances = self._subset_scan(query, allowed, depth)  # the probed lists held too few
        timings = {"hamming": elapsed_ms(started)}
        if mode is SearchMode.BINARY:
            scores = 1.0 - 2.0 * distances.astype(np.float32) / np.float32(query.dimensions)
            return top_k(ids, scores, k), timings
        if multiplier is None:  # adaptive: the pool's nearest within the margin (distances are sorted)
            ids = ids[: adaptive.depth(distances, k, query.dimensions)]
        started = time.perf_counter()
        result = rescore_top_k(query.int8[0], self._views.int8, self._id_to_row, ids, k)
        timings["rescore"] = elapsed_ms(started)
        timings["candidates"] = float(len(ids))
        return result, timings

    def _subset_scan(self, query: Embeddings, allowed: IdArray, depth: int) -> tuple[IdArray, np.ndarray]:
        """Exact Hamming top ``depth`` over the allowed chunks' codes (small filters on an IVF index)."""
        assert self._views is not None
        codes = np.asarray(self._views.bits[self._id_to_row[allowed]])
        return hamming_top_k(query.bits[0], codes, allowed, depth)

    def _search_exact(
        self, query: Embeddings, mode: SearchMode, k: int, allowed: IdArray | None
    ) -> tuple[Scored, dict[str, float]]:
        assert self._views is not None
        ids = np.flatnonzero(self._id_to_row >= 0).astype(np.int64) if allowed is None else allowed
        started = time.perf_counter()
        if mode is SearchMode.INT8_EXACT:
            scores = exact_cosine(query.int8[0], self._views.int8, self._id_to_row[ids])
        else:
            if self._views.floats is None or query.floats is None:
                raise InvalidInputError(
                    "float-exact needs float vectors: this collection does not keep them "
                    "(create it with settings {'keep_floats': true})."
                )
            scores = exact_cosine(query.floats[0], self._views.floats, self._id_to_row[ids])
        result = top_k(ids, scores, k)
        return result, {"rescore": elapsed_ms(started)}


def _fetch_pairs(conn: sqlite3.Connection, sql: str, params: tuple[int, ...]) -> tuple[IdArray, IdArray]:
    pairs = np.array(conn.execute(sql, params).fetchall(), dtype=np.int64).reshape(-1, 2)
    return np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])


def _id_map(ids: IdArray, rows: IdArray, base: IdArray) -> IdArray:
    """``base`` (chunk id -> row, -1 when absent) grown to cover ``ids`` and updated with their rows."""
    size = max(len(base), int(ids.max()) + 1 if len(ids) else 0)
    if size > len(base):
        grown = np.full(max(size, len(base) * 5 // 4), -1, dtype=np.int64)
        grown[: len(base)] = base
        base = grown
    base[ids] = rows
    return base

"""The flat index's storage: one contiguous code matrix in chunk-id order, with tombstones.

Slot i holds chunk ``ids[i]``'s code; slots stay in increasing id order (chunk ids come from an
AUTOINCREMENT key, so adds append; an out-of-order add re-sorts), so an id's slot is a binary search away
and ties at equal distance are broken by the smaller id. A removal only clears the slot's ``live`` flag:
ids never shift, and the scan skips dead slots through the same mask that applies filters. Once dead slots
are a quarter of the matrix they are squeezed out (slots move, ids do not).

Searches go through a ``ScanBatcher``: concurrent queries become one multi-query scan.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rag.hamming import Distances, Mask, scan_top_k
from rag.scan_batcher import ScanBatcher, usable_cpus
from rag.types import IdArray

# A filter allowing fewer than 1 / _GATHER_RATIO of the slots is scanned as a gathered subset (a smaller
# read) rather than as a mask over the whole matrix.
_GATHER_RATIO = 16
_GROWTH = 1.25
# Row-queries of work (~1 ms of the AVX-512 batched kernel) below which a batch is not split across threads.
SPLIT_MIN_WORK = 1 << 20

ScanRequest = tuple[np.ndarray, int, "Mask | None"]
ScanResult = tuple[IdArray, Distances]


class FlatCodes:
    def __init__(self, code_bytes: int) -> None:
        self.code_bytes = code_bytes
        self._codes = np.empty((0, code_bytes), np.uint8)
        self._ids = np.empty(0, np.int64)
        self._live = np.empty(0, bool)
        self.size = 0  # slots in use (live or dead)
        self.dead = 0
        self.batcher: ScanBatcher[ScanRequest, ScanResult] = ScanBatcher(self.scan_batch)

    def __len__(self) -> int:
        return self.size - self.dead

    def codes(self) -> npt.NDArray[np.uint8]:
        return self._codes[: self.size]

    def ids(self) -> IdArray:
        return self._ids[: self.size]

    def live_pairs(self) -> tuple[IdArray, npt.NDArray[np.uint8]]:
        """(ids, codes) of the live slots, in id order."""
        live = self._live[: self.size]
        return self.ids()[live], self.codes()[live]

    def memory_bytes(self) -> int:
        return int(self._codes.nbytes + self._ids.nbytes + self._live.nbytes)

    def reserve(self, capacity: int) -> None:
        if capacity > len(self._codes):
            self._codes = _grown(self._codes, capacity)
            self._ids = _grown(self._ids, capacity)
            self._live = _grown(self._live, capacity)

    def add(self, ids: IdArray, codes: np.ndarray) -> None:
        if not len(ids):
            return
        end = self.size + len(ids)
        if end > len(self._codes):
            self.reserve(max(end, int(len(self._codes) * _GROWTH)))
        self._codes[self.size : end] = codes
        self._ids[self.size : end] = ids
        self._live[self.size : end] = True
        ordered = bool(np.all(np.diff(ids) > 0)) and (self.size == 0 or ids[0] > self._ids[self.size - 1])
        self.size = end
        if not ordered:
            self._rearrange(np.argsort(self.ids(), kind="stable"))

    def slots_of(self, ids: IdArray) -> npt.NDArray[np.int64]:
        """The live slots holding ``ids`` (ids not held, or removed, are left out)."""
        held = self.ids()
        slots = np.searchsorted(held, ids)
        inside = slots < self.size
        slots = slots[inside]
        found: npt.NDArray[np.int64] = slots[(held[slots] == ids[inside]) & self._live[slots]]
        return found.astype(np.int64)

    def remove(self, ids: IdArray) -> int:
        slots = np.unique(self.slots_of(np.asarray(ids, np.int64)))
        self._live[slots] = False
        self.dead += len(slots)
        if self.dead > max(1024, self.size // 4):
            self._rearrange(np.flatnonzero(self._live[: self.size]))
        return len(slots)

    def _rearrange(self, order: npt.NDArray[np.intp]) -> None:
        """Keep the slots ``order`` lists, in that order (re-sorting, or squeezing out dead slots)."""
        codes, ids, live = self.codes()[order], self.ids()[order], self._live[: self.size][order]
        self.size = len(order)
        self.dead = int(self.size - live.sum())
        self._codes[: self.size], self._ids[: self.size], self._live[: self.size] = codes, ids, live

    def search(self, query: np.ndarray, k: int, allowed: IdArray | None) -> ScanResult:
        """Ids and distances of the ``k`` nearest live codes (only ``allowed`` ids), nearest first."""
        if allowed is not None and len(allowed) * _GATHER_RATIO < self.size:
            return self._search_subset(query, k, allowed)
        mask = None
        if allowed is not None:
            mask = np.zeros(self.size, bool)
            mask[self.slots_of(np.asarray(allowed, np.int64))] = True
        elif self.dead:
            mask = self._live[: self.size]
        return self.batcher.submit((query, k, mask))

    def _search_subset(self, query: np.ndarray, k: int, allowed: IdArray) -> ScanResult:
        slots = np.unique(self.slots_of(np.asarray(allowed, np.int64)))
        found, distances = scan_top_k(self._codes[slots], query, k)[0]
        return self._ids[slots[found]], distances

    def scan_batch(self, requests: list[ScanRequest]) -> list[ScanResult]:
        """One scan for all ``requests`` (k is the largest asked; each answer is cut to its own k, which
        is exact: the order is total, so a shorter top-k is a prefix of a longer one)."""
        deepest = max(k for _, k, _ in requests)
        alone = len(requests) == 1
        queries = requests[0][0].reshape(1, -1) if alone else np.stack([q for q, _, _ in requests])
        parts = _split_parts(len(requests), self.size)
        answers = scan_top_k(self.codes(), queries, deepest, [m for _, _, m in requests], parts=parts)
        return [
            (self._ids[slots[:k]], distances[:k])
            for (slots, distances), (_, k, _) in zip(answers, requests, strict=True)
        ]


def _split_parts(queries: int, rows: int) -> int:
    """Ranges a batched scan is split into, one per CPU: a batch adds ~1 ns of AVX-512 work per row and
    query to the read (~3.5 ns per row), so a second core shortens it (the scan layer at 1M, 8 threads:
    753-758 QPS against 654-655 whole, same run); a single query, bound by memory, stays whole
    (PERFORMANCE.md: splitting one query did not pay on this kind of machine)."""
    if queries < 2 or queries * rows < SPLIT_MIN_WORK:
        return 1
    return usable_cpus()


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.empty((capacity, *array.shape[1:]), array.dtype)
    out[: len(array)] = array
    return out

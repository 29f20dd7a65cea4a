"""Exact Hamming top-k over a contiguous matrix of packed codes, for one query or many at once.

The scan walks the codes in blocks. Each block's distances come from FAISS's ``hammings`` kernel (a
popcount loop the FAISS wheel dispatches at run time: AVX-512 VPOPCNTDQ, AVX2, or portable scalar code,
always exact), written to a small buffer that stays in cache. The selection never sorts all N distances:
the k-th smallest distance among the first block's rows is an upper bound ``T`` on the final k-th (one
query: an introselect over its first 16k rows; a batch: a histogram per query, distances being small
integers), every block only keeps the rows at distance <= ``T`` (one vectorized compare), and the kept rows
lower ``T`` whenever they pile up past 4 x k. Rows at distance <= the final k-th are all kept, so the
answer is exact, ties included: the order is (distance, slot), and slots are in chunk-id order, so ties are
broken by the smaller id.

For a batch of queries every block is read once from memory for all of them (the block is sized to stay in
L2 while each query's popcount loop passes over it), which is what makes concurrent searches cheaper than
their sum. ``masks`` restrict each query to allowed slots (filters and tombstones), applied in the same
compare. See docs/storage.md ("The Hamming scan") for the measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

# Rows per block: one query streams (the block only bounds the distance buffer); a batch re-reads each
# block once per query, so it must fit in L2 (1 MiB here; AMD Zen 4's is 1 MiB, Sapphire Rapids' 2 MiB).
SINGLE_BLOCK_ROWS = 65_536
BATCH_BLOCK_BYTES = 1 << 20
MIN_BATCH_ROWS = 1024
# Tighten the thresholds once the kept candidates exceed this many times k per query.
_SLACK = 4
# The first bound is the k-th distance of a block's first rows (any subset's k-th bounds the final one).
_SAMPLE_ROWS = 16_384

_FAISS: Any = faiss  # ``hammings`` is in the SWIG module, not in its type stubs
Mask = npt.NDArray[np.bool_]
Slots = npt.NDArray[np.int64]
Distances = npt.NDArray[np.int32]


def distances(queries: np.ndarray, codes: np.ndarray) -> npt.NDArray[np.int32]:
    """The (queries, rows) Hamming distance matrix: the scan's kernel, exposed for tests and benchmarks."""
    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    out = np.empty((len(queries), len(codes)), np.int32)
    if out.size:
        _FAISS.hammings(
            faiss.swig_ptr(queries),
            faiss.swig_ptr(codes),
            len(queries),
            len(codes),
            int(codes.shape[1]),
            faiss.swig_ptr(out),
        )
    return out


def scan_top_k(
    codes: np.ndarray,
    queries: np.ndarray,
    k: int,
    masks: Sequence[Mask | None] | None = None,
) -> list[tuple[Slots, Distances]]:
    """For each query row, the slots (row numbers of ``codes``) and distances of its ``k`` nearest rows,
    nearest first, ties by slot; ``masks[i]`` (length ``len(codes)``) limits query i to its True rows."""
    queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, codes.shape[1])
    nq, n = len(queries), len(codes)
    # one thread: the kernel's OpenMP loop over queries would wake idle workers once per block
    _FAISS.omp_set_num_threads(1)
    if masks is None:
        masks = [None] * nq
    if k <= 0 or n == 0 or nq == 0:
        return [(np.empty(0, np.int64), np.empty(0, np.int32)) for _ in range(nq)]
    if nq == 1:
        return [_scan_one(codes, queries, k, masks[0])]
    mask = _stacked(masks, n)
    block = max(MIN_BATCH_ROWS, BATCH_BLOCK_BYTES // codes.shape[1])
    selection = _Selection(nq, k, codes.shape[1] * 8)
    for start in range(0, n, block):
        end = min(n, start + block)
        part = distances(queries, codes[start:end])
        selection.offer(part, start, None if mask is None else mask[:, start:end])
    return selection.result()


def _scan_one(codes: np.ndarray, query: np.ndarray, k: int, mask: Mask | None) -> tuple[Slots, Distances]:
    """The one-query scan: the same selection as ``_Selection`` with fewer steps (it sets the latency)."""
    bits = codes.shape[1] * 8
    bound = bits
    kept_dist: list[np.ndarray] = []
    kept_slot: list[np.ndarray] = []
    kept = 0
    for start in range(0, len(codes), SINGLE_BLOCK_ROWS):
        part = distances(query, codes[start : start + SINGLE_BLOCK_ROWS])[0]
        if mask is not None:
            part[~mask[start : start + len(part)]] = bits + 1
        if bound == bits:
            bound = _kth(part[:_SAMPLE_ROWS], k, bound)
        hits = np.flatnonzero(part <= bound)
        kept_dist.append(part[hits])
        kept_slot.append(hits + start)
        kept += len(hits)
        if kept > _SLACK * k:
            dist, slot = np.concatenate(kept_dist), np.concatenate(kept_slot)
            bound = _kth(dist, k, bound)
            keep = dist <= bound
            kept_dist, kept_slot, kept = [dist[keep]], [slot[keep]], int(keep.sum())
    dist, slot = np.concatenate(kept_dist), np.concatenate(kept_slot)
    order = np.lexsort((slot, dist))[:k]
    return slot[order].astype(np.int64), dist[order].astype(np.int32)


def _kth(dist: np.ndarray, k: int, bound: int) -> int:
    """The k-th smallest of ``dist`` (an introselect, O(len)), or ``bound`` if there are fewer."""
    if len(dist) < k:
        return bound
    return min(bound, int(np.partition(dist, k - 1)[k - 1]))


def _stacked(masks: Sequence[Mask | None], n: int) -> Mask | None:
    """One (queries, n) mask, or None when no query has one (the common, unfiltered case)."""
    present = [m for m in masks if m is not None]
    if not present:
        return None
    if len(present) == len(masks) and all(m is present[0] for m in present):
        return present[0][None, :n]  # one shared mask (the live slots): broadcast, not copied per query
    out = np.ones((len(masks), n), dtype=bool)
    for i, m in enumerate(masks):
        if m is not None:
            out[i] = m[:n]
    return out


class _Selection:
    """The candidates kept so far (query, distance, slot) and each query's distance bound."""

    def __init__(self, queries: int, k: int, bits: int) -> None:
        self.k = k
        self.queries = queries
        self.bits = bits
        self.bound = np.full(queries, bits, dtype=np.int32)
        self.bounded = False
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.kept = 0

    def offer(self, part: npt.NDArray[np.int32], start: int, mask: Mask | None) -> None:
        if mask is not None:
            part = np.where(mask, part, self.bits + 1).astype(np.int32)
        if not self.bounded:
            self._bound_from(part)
        keep = np.flatnonzero(part <= self.bound[:, None])
        which, column = np.divmod(keep, part.shape[1])
        self.parts.append((which, part.ravel()[keep], column + start))
        self.kept += len(keep)
        if self.kept > _SLACK * self.k * self.queries:
            self._tighten()

    def _bound_from(self, part: npt.NDArray[np.int32]) -> None:
        """Bounds from one block alone (a histogram per query row), before any candidate is kept."""
        width = self.bits + 2  # one more bin for masked-out rows
        offsets = (np.arange(self.queries, dtype=np.int64) * width)[:, None]
        self._lower(np.bincount((part + offsets).ravel(), minlength=self.queries * width), width)

    def _lower(self, histogram: np.ndarray, width: int) -> None:
        cumulative = np.cumsum(histogram.reshape(self.queries, width)[:, : self.bits + 1], axis=1)
        full = cumulative[:, -1] >= self.k
        kth = np.argmax(cumulative >= self.k, axis=1).astype(np.int32)
        self.bound = np.where(full, np.minimum(self.bound, kth), self.bound).astype(np.int32)
        self.bounded = bool(full.all())

    def _merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(self.parts) != 1:
            which, dist, slot = (np.concatenate(column) for column in zip(*self.parts, strict=True))
            self.parts = [(which, dist, slot)]
        return self.parts[0]

    def _tighten(self) -> None:
        """Lower each query's bound to its k-th distance so far (a histogram of the kept distances, which
        are small integers: no sort), and drop the candidates beyond it."""
        which, dist, slot = self._merged()
        width = self.bits + 1
        self._lower(np.bincount(which * width + dist, minlength=self.queries * width), width)
        keep = dist <= self.bound[which]
        self.parts = [(which[keep], dist[keep], slot[keep])]
        self.kept = len(self.parts[0][0])

    def result(self) -> list[tuple[Slots, Distances]]:
        self._tighten()
        which, dist, slot = self._merged()
        order = np.lexsort((slot, dist, which))
        which, dist, slot = which[order], dist[order], slot[order]
        starts = np.searchsorted(which, np.arange(self.queries + 1))
        return [
            (
                slot[starts[i] : min(starts[i + 1], starts[i] + self.k)],
                dist[starts[i] : min(starts[i + 1], starts[i] + self.k)].astype(np.int32),
            )
            for i in range(self.queries)
        ]

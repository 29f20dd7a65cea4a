"""Exact Hamming top-k over a contiguous matrix of packed codes, for one query or many at once.

The scan is ``rag._hamming``, a C extension built with the package: one pass over the codes computes each
row's distance (XOR and a popcount: AVX-512, AVX2 or POPCNT, whichever this CPU runs fastest) and feeds a
selection fused into the same loop, which keeps only the rows within a distance bound that drops to the
k-th kept distance whenever the kept rows fill their buffer; a stable counting sort by distance then
orders them. The answer is exact, ties included: the order is (distance, slot), and slots are in
chunk-id order, so ties are broken by the smaller id.

One query runs at the speed of memory (each code is read once; the selection is one compare per row). For
a batch of queries the codes are walked in chunks that stay in L1 while every query passes over them,
so the batch reads the codes from memory once, which is what makes concurrent searches cheaper than their
sum. ``masks`` restrict each query to allowed slots (filters and tombstones), applied inside the loop.
The scan releases the GIL. See docs/storage.md ("The Hamming scan") for the measurements.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from rag import _hamming

# Bytes per chunk of a scan: every query of a batch passes over a chunk while it sits in L1 before the scan
# moves on (16 KiB, 128 rows of 1024 bits: at 1M rows, 0.88x per batch of 8 against 256 rows, and 64 rows
# lost at 32 queries). Within 1 .. MAX_CHUNK_ROWS rows, the C extension's limit.
CHUNK_BYTES = 1 << 14
MAX_CHUNK_ROWS = 1024

Mask = npt.NDArray[np.bool_]
Slots = npt.NDArray[np.int64]
Distances = npt.NDArray[np.int32]


def kernel_variant() -> str:
    """The distance kernel in use: ``avx512``, ``avx2``, ``popcnt`` or ``portable`` (import picks the
    fastest)."""
    return _hamming.variant()


def kernel_variants() -> list[str]:
    """The kernels this CPU can run, fastest first (``_hamming.use_variant(name)`` switches, for tests)."""
    return _hamming.variants()


def distances(queries: np.ndarray, codes: np.ndarray) -> npt.NDArray[np.int32]:
    """The (queries, rows) Hamming distance matrix, from the scan's own popcount (for tests and benches)."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, codes.shape[1])
    out = np.empty((len(queries), len(codes)), np.int32)
    _hamming.distances(codes, len(codes), codes.shape[1], queries, len(queries), out)
    return out


def scan_top_k(
    codes: np.ndarray,
    queries: np.ndarray,
    k: int,
    masks: Sequence[Mask | None] | None = None,
    *,
    parts: int = 1,
) -> list[tuple[Slots, Distances]]:
    """For each query row, the slots (row numbers of ``codes``) and distances of its ``k`` nearest rows,
    nearest first, ties by slot; ``masks[i]`` (length >= ``len(codes)``) limits query i to its True rows.
    ``parts`` > 1 scans that many ranges of rows on as many threads and merges their answers (exact)."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, codes.shape[1])
    nq, n = len(queries), len(codes)
    if k <= 0 or n == 0 or nq == 0:
        return [(np.empty(0, np.int64), np.empty(0, np.int32)) for _ in range(nq)]
    mask, stride = _packed_masks(masks, nq, n)
    k = min(k, n)
    bounds = np.linspace(0, n, min(max(parts, 1), n) + 1).astype(np.int64)
    ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    if len(ranges) == 1:
        slots, found, counts = _scan_range(codes, queries, k, mask, stride, 0, n)
        return [(slots[i, : counts[i]], found[i, : counts[i]]) for i in range(nq)]
    pool = _split_pool()
    later = [pool.submit(_scan_range, codes, queries, k, mask, stride, a, b) for a, b in ranges[1:]]
    answers = [_scan_range(codes, queries, k, mask, stride, *ranges[0]), *(f.result() for f in later)]
    return [_merged(answers, [a for a, _ in ranges], i, k) for i in range(nq)]


def _scan_range(
    codes: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None, stride: int, start: int, end: int
) -> tuple[Slots, Distances, npt.NDArray[np.int64]]:
    """The C scan of rows [start, end): slots relative to ``start``, distances and counts, (nq, k')."""
    nq, n = len(queries), end - start
    k = min(k, n)
    slots = np.empty((nq, k), np.int64)
    found = np.empty((nq, k), np.int32)
    counts = np.empty(nq, np.int64)
    chunk = max(1, min(MAX_CHUNK_ROWS, CHUNK_BYTES // codes.shape[1]))
    # each query's mask row starts `start` bytes further into the same buffer (its stride is unchanged)
    part_mask = None if mask is None else mask.reshape(-1)[start:]
    _hamming.top_k(codes[start:end], n, codes.shape[1], queries, nq, k, part_mask, stride, chunk,
                   slots, found, counts)  # fmt: skip
    return slots, found, counts


def _merged(
    answers: list[tuple[Slots, Distances, npt.NDArray[np.int64]]], starts: list[int], i: int, k: int
) -> tuple[Slots, Distances]:
    """Query i's top k over every range: each range's top k holds all of the answer that lies in it, and
    (distance, slot) is one total order, so sorting the union by it and cutting at k is exact."""
    slots = np.concatenate([s[i, : c[i]] + start for (s, _, c), start in zip(answers, starts, strict=True)])
    found = np.concatenate([d[i, : c[i]] for _, d, c in answers])
    order = np.lexsort((slots, found))[:k]
    return slots[order], found[order]


@functools.cache
def _split_pool() -> ThreadPoolExecutor:
    """Threads for the further ranges of split scans (one per CPU at most; created on first use)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="rag-scan")


def _packed_masks(masks: Sequence[Mask | None] | None, nq: int, n: int) -> tuple[np.ndarray | None, int]:
    """The masks as one uint8 buffer and its row stride: None when no query has one (the common case),
    one row with stride 0 when every query shares the same mask (the live slots), else one row each."""
    present = [m for m in masks or () if m is not None]
    if not present:
        return None, 0
    if len(present) == nq and all(_same_rows(m, present[0]) for m in present):
        return np.ascontiguousarray(present[0][:n]).view(np.uint8), 0
    out = np.ones((nq, n), dtype=np.uint8)
    for i, m in enumerate(masks or ()):
        if m is not None:
            out[i] = m[:n]
    return out, n


def _same_rows(a: Mask, b: Mask) -> bool:
    """Whether two masks are views of the same memory from the same first element: every query of a
    collection with tombstones brings its own view of the live flags, and comparing objects missed that,
    so each batch copied nq x n bytes (8 MB for 8 queries at 1M)."""
    return a is b or (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides
    )

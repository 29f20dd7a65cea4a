"""Scoring kernels of the search path: int8 rescoring, exact scans, top-k.

There is no FAISS-native int8 subset rescoring (PERFORMANCE.md section 6.6), so candidates are scored in
place in the memory-mapped int8 rows by our C kernel (``rag._int8``, no GIL). Exact scans use numpy with its
BLAS pinned to one thread: a GEMV split over two threads of a busy 2-vCPU box stalls for milliseconds
(section 6.4).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import numpy as np

from rag import _int8
from rag.types import Float32Array, IdArray, Scored

_BLOCK_ROWS = 32768


class _BlasPin:
    """numpy's BLAS held at one thread while any thread is inside ``one_blas_thread``.

    The thread count is process-wide, so plain nested enter/exit from several request threads would restore
    the wrong value (and could leave torch's or faiss's BLAS pinned too): a depth count under a lock sets it
    on the first entry and restores it on the last exit, and only numpy's own BLAS is touched.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._limiter: Any = None

    @cached_property
    def _numpy_blas(self) -> Any:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        paths = [info["filepath"] for info in controller.info() if "numpy" in info["filepath"]]
        return controller.select(filepath=paths, user_api="blas") if paths else None

    def enter(self) -> None:
        with self._lock:
            if self._depth == 0 and self._numpy_blas is not None:
                self._limiter = self._numpy_blas.limit(limits=1)
            self._depth += 1

    def exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._limiter is not None:
                self._limiter.restore_original_limits()
                self._limiter = None


_PIN = _BlasPin()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS limited to one thread for the ``with`` body (~10 us to enter)."""
    _PIN.enter()
    try:
        yield
    finally:
        _PIN.exit()


def rescore_int8(query_int8: np.ndarray, int8_rows: np.ndarray, rows: IdArray) -> Float32Array:
    """Cosine between the int8 query (d,) and the int8 rows at positions ``rows``, read in place from the
    mmap by ``rag._int8`` (no gather, no GIL): the same float32 scores as ``cosine_int8``."""
    picked = np.ascontiguousarray(rows, dtype=np.int64)
    scores = np.empty(len(picked), np.float32)
    if len(picked):
        matrix = np.asarray(int8_rows)
        query = np.ascontiguousarray(query_int8, dtype=np.int8)
        _int8.cosines(query, matrix, matrix.shape[0], matrix.shape[1], picked, len(picked), scores)
    return scores


def rescore_top_k(
    query_int8: np.ndarray, int8_rows: np.ndarray, id_to_row: IdArray, candidates: IdArray, k: int
) -> Scored:
    """The rescoring stage of ``binary+int8``: int8 cosine of the candidate chunk ids, best ``k`` kept."""
    return top_k(candidates, rescore_int8(query_int8, int8_rows, id_to_row[candidates]), k)


def exact_cosine(query: np.ndarray, matrix: np.ndarray, rows: IdArray) -> Float32Array:
    """Cosine of ``query`` (d,) against ``matrix[rows]`` (int8 or float32 rows), scanned in blocks."""
    q = np.asarray(query, dtype=np.float32)
    q_norm = np.float32(np.linalg.norm(q))
    scores = np.empty(len(rows), dtype=np.float32)
    with one_blas_thread():
        for start in range(0, len(rows), _BLOCK_ROWS):
            block = np.asarray(matrix[rows[start : start + _BLOCK_ROWS]], dtype=np.float32)
            norms = np.sqrt(np.einsum("ij,ij->i", block, block)) * q_norm
            dots = block @ q
            with np.errstate(divide="ignore", invalid="ignore"):
                scores[start : start + len(block)] = np.where(norms > 0, dots / norms, np.float32(0.0))
    return scores


def top_k(ids: IdArray, scores: np.ndarray, k: int) -> Scored:
    """The ``k`` best (id, score) pairs, best first; ties broken by the smaller id (deterministic)."""
    if not len(ids) or k <= 0:
        return []
    if len(ids) > k:
        # argpartition narrows to the k best, then ids tied with the k-th score join so the tie-break holds
        kth = np.partition(-scores, k - 1)[k - 1]
        keep = np.flatnonzero(-scores <= kth)
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -np.asarray(scores, dtype=np.float64)))[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]

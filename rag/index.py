"""The binary vector index: packed sign bits in FAISS, keyed by chunk id. The only module importing faiss.

``BinaryIndex`` wraps an exhaustive ``IndexBinaryFlat`` (in an ``IndexBinaryIDMap``, so ids are chunk ids
and never shift on removal) or, for large collections, an ``IndexBinaryIVF`` (ids native; filters, the
recall target and the ``auto`` kind's size rule live in ``rag.coarse_index``). Every search runs
on one OpenMP thread: one query per thread is faster than splitting a query on a small shared machine
(PERFORMANCE.md section 6); concurrency comes from parallel requests.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from rag import coarse_index
from rag.errors import CorruptStoreError, InvalidInputError
from rag.types import IdArray

# auto: flat below ``auto_min_chunks`` live chunks, IVF (nlist and nprobe chosen here) past it.
INDEX_KINDS = ("auto", "flat", "ivf")
# IVF k-means wants ~39 points per list; below that a flat scan is both faster and exact.
IVF_POINTS_PER_LIST = 39
_IVF_TRAIN_SAMPLE = 256
_MISSING = -1


def _one_thread() -> None:
    # omp_set_num_threads sets the calling thread's OpenMP ICV, so each request thread sets its own.
    faiss.omp_set_num_threads(1)


class BinaryIndex:
    """Hamming search over packed sign bits (``d / 8`` bytes per chunk)."""

    def __init__(
        self,
        dimensions: int,
        *,
        kind: str = "flat",
        nlist: int = 1024,
        nprobe: int = 16,
        auto_min_chunks: int = coarse_index.AUTO_MIN_CHUNKS,
        recall_target: float = coarse_index.DEFAULT_RECALL_TARGET,
    ) -> None:
        if kind not in INDEX_KINDS:
            raise InvalidInputError(f"Unknown index type {kind!r}; use one of {', '.join(INDEX_KINDS)}.")
        if dimensions <= 0 or dimensions % 8:
            raise InvalidInputError(
                f"Binary index dimensions must be a positive multiple of 8: {dimensions}."
            )
        self.dimensions = dimensions
        self.requested_kind = kind
        self.nlist = nlist
        self.nprobe = nprobe
        self.auto_min_chunks = auto_min_chunks
        self.recall_target = recall_target
        self.kind = "flat"
        self._index: Any = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(dimensions))

    @classmethod
    def build(
        cls,
        dimensions: int,
        ids: IdArray,
        codes: np.ndarray,
        *,
        kind: str = "flat",
        nlist: int = 1024,
        nprobe: int = 16,
        auto_min_chunks: int = coarse_index.AUTO_MIN_CHUNKS,
        recall_target: float = coarse_index.DEFAULT_RECALL_TARGET,
    ) -> BinaryIndex:
        """An index over ``codes`` (n, d/8) with ``ids`` (n,); IVF is trained here when due."""
        index = cls(
            dimensions,
            kind=kind,
            nlist=nlist,
            nprobe=nprobe,
            auto_min_chunks=auto_min_chunks,
            recall_target=recall_target,
        )
        if index.due_for_training(len(ids)):
            index._train_ivf(codes)
        index.add(ids, codes)
        if index.kind == "ivf" and kind == "auto":
            index.nprobe = coarse_index.calibrate_nprobe(index._index, codes, recall_target)
            index._index.nprobe = index.nprobe  # serialized with the index: a restart probes as many
        return index

    def due_for_training(self, live_chunks: int) -> bool:
        """Whether a flat index of this kind should become IVF at ``live_chunks`` (rebuild, save_index)."""
        if self.kind != "flat":
            return False
        if self.requested_kind == "auto":
            return coarse_index.wants_ivf(live_chunks, self.auto_min_chunks)
        return self.requested_kind == "ivf" and live_chunks >= self.nlist * IVF_POINTS_PER_LIST

    def _train_ivf(self, codes: np.ndarray) -> None:
        _one_thread()
        if self.requested_kind == "auto":
            self.nlist = coarse_index.auto_nlist(len(codes))
            ivf = coarse_index.train_ivf(codes, self.dimensions, self.nlist)
        else:
            ivf = coarse_index.train_ivf(codes, self.dimensions, self.nlist, _IVF_TRAIN_SAMPLE)
        ivf.nprobe = self.nprobe
        self._index = ivf
        self.kind = "ivf"

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def supports_selector(self) -> bool:
        """Whether ``search(..., allowed=...)`` filters inside the search (both kinds now do)."""
        return True

    def prefers_subset_scan(self, allowed_count: int, nprobe: int | None = None) -> bool:
        """Whether an exact scan of the ``allowed_count`` matching codes beats the filtered IVF probe."""
        if self.kind == "flat":
            return False
        return coarse_index.prefers_subset_scan(self._index, allowed_count, nprobe or self.nprobe)

    def add(self, ids: IdArray, codes: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(codes, dtype=np.uint8), _as_ids(ids))

    def remove(self, ids: IdArray) -> int:
        if not len(ids):
            return 0
        return int(self._index.remove_ids(_as_ids(ids)))

    def search(
        self, query_bits: np.ndarray, k: int, *, allowed: IdArray | None = None, nprobe: int | None = None
    ) -> tuple[IdArray, npt.NDArray[np.int32]]:
        """Ids and Hamming distances of the ``k`` nearest codes, nearest first (only ``allowed`` ids)."""
        _one_thread()
        if k <= 0 or len(self) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int32)
        query = np.ascontiguousarray(query_bits, dtype=np.uint8).reshape(1, -1)
        params = None
        bitmap = None
        if allowed is not None:
            if not len(allowed):
                return np.empty(0, np.int64), np.empty(0, np.int32)
            if self.kind == "ivf":
                ids, distances = coarse_index.filtered_search(
                    self._index, query[0], k, _as_ids(allowed), nprobe or self.nprobe
                )
                return ids, distances
            params = faiss.SearchParameters()
            bitmap = _bitmap(allowed)
            # the selector points into ``bitmap``; the local keeps it alive until the search returns
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe or self.nprobe  # 0 / None: the index's own (calibrated for auto)
        distances, labels = self._index.search(query, min(k, len(self)), params=params)
        del bitmap
        keep = labels[0] != _MISSING
        return labels[0][keep].astype(np.int64), distances[0][keep].astype(np.int32)

    def memory_bytes(self) -> int:
        """Bytes the index occupies (its serialized size: codes, ids and, for IVF, the centroids)."""
        return int(faiss.serialize_index_binary(self._index).nbytes)

    def to_bytes(self) -> np.ndarray:
        return np.asarray(faiss.serialize_index_binary(self._index))

    @classmethod
    def from_bytes(cls, data: np.ndarray, *, kind: str, nlist: int, nprobe: int) -> BinaryIndex:
        try:
            raw: Any = faiss.deserialize_index_binary(np.ascontiguousarray(data, dtype=np.uint8))
        except RuntimeError as exc:
            raise CorruptStoreError(f"The binary index snapshot cannot be read: {exc}") from exc
        index = cls(int(raw.d), kind=kind, nlist=nlist, nprobe=nprobe)
        index._index = raw  # deserialize returns the concrete, owning type; a downcast copy would dangle
        index.kind = "ivf" if isinstance(index._index, faiss.IndexBinaryIVF) else "flat"
        if index.kind == "ivf" and kind == "auto":  # the snapshot's own lists and calibrated nprobe
            index.nlist, index.nprobe = int(raw.nlist), int(raw.nprobe)
        return index


def hamming_top_k(
    query_bits: np.ndarray, codes: np.ndarray, ids: IdArray, k: int
) -> tuple[IdArray, npt.NDArray[np.int32]]:
    """Exact Hamming top-k over an explicit subset (the filter path of indexes without id selectors)."""
    _one_thread()
    flat = faiss.IndexBinaryFlat(int(codes.shape[1]) * 8)
    flat.add(np.ascontiguousarray(codes, dtype=np.uint8))
    kk = min(k, len(ids))
    if kk <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    distances, positions = flat.search(np.ascontiguousarray(query_bits, dtype=np.uint8).reshape(1, -1), kk)
    return ids[positions[0]].astype(np.int64), distances[0].astype(np.int32)


class FloatFlatIndex:
    """Exact float32 inner-product search (``IndexFlatIP``): the benchmark's uncompressed baseline."""

    def __init__(self, vectors: np.ndarray) -> None:
        self._index: Any = faiss.IndexFlatIP(int(vectors.shape[1]))
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, query: np.ndarray, k: int) -> IdArray:
        _one_thread()
        _, labels = self._index.search(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1), k)
        return np.asarray(labels[0], dtype=np.int64)

    def memory_bytes(self) -> int:
        return int(self._index.ntotal) * int(self._index.d) * 4


def _as_ids(ids: np.ndarray) -> IdArray:
    return np.ascontiguousarray(ids, dtype=np.int64)


def _bitmap(ids: IdArray) -> npt.NDArray[np.uint8]:
    """A little-endian bit set over ids (bit i of byte i // 8), as faiss.IDSelectorBitmap reads it."""
    if not len(ids):
        return np.zeros(1, np.uint8)
    flags = np.zeros(int(ids.max()) + 1, dtype=bool)
    flags[ids] = True
    return np.packbits(flags, bitorder="little")

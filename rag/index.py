"""The binary vector index: packed sign bits keyed by chunk id. The only module importing faiss's indexes.

``BinaryIndex`` is either flat (an exact scan, ``rag.flat_codes`` over ``rag.hamming``, with filters and
tombstones applied inside the scan and concurrent queries batched into one scan) or, for large collections,
a FAISS ``IndexBinaryIVF`` (ids native; filters, the recall target and the ``auto`` kind's size rule live in
``rag.coarse_index``). Ids are chunk ids and never shift on removal. Every search runs on one thread: one
query per thread is faster than splitting a query on a small shared machine (PERFORMANCE.md section 6);
concurrency comes from parallel requests.

The snapshot bytes are FAISS's serialization in both kinds (a flat index is written as the
``IndexBinaryIDMap(IndexBinaryFlat)`` it used to be), so snapshots written before the flat scan load as
they are.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from rag import coarse_index
from rag.errors import CorruptStoreError, InvalidInputError
from rag.flat_codes import FlatCodes
from rag.hamming import scan_top_k
from rag.scan_batcher import ScanBatcher, ScanPolicy, ScanStats
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
        self._flat: FlatCodes | None = FlatCodes(dimensions // 8)
        self._ivf: Any = None

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
        else:
            index.reserve(len(ids))
        index.add(ids, codes)
        if index.kind == "ivf" and kind == "auto":
            index.nprobe = coarse_index.calibrate_nprobe(index._ivf, codes, recall_target)
            index._ivf.nprobe = index.nprobe  # serialized with the index: a restart probes as many
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
        self._ivf, self._flat = ivf, None
        self.kind = "ivf"

    def __len__(self) -> int:
        return len(self._flat) if self._flat is not None else int(self._ivf.ntotal)

    @property
    def supports_selector(self) -> bool:
        """Whether ``search(..., allowed=...)`` filters inside the search (both kinds do)."""
        return True

    @property
    def scan_stats(self) -> ScanStats | None:
        """The flat scan's batching counters (None for IVF)."""
        return None if self._flat is None else self._flat.batcher.stats

    def batch_scans(self, stats: ScanStats, policy: ScanPolicy) -> None:
        """Group concurrent scans as ``policy`` says, counted in ``stats`` (the owner's lifetime counters;
        flat only)."""
        if self._flat is not None:
            self._flat.batcher = ScanBatcher(
                self._flat.scan_batch, max_batch=policy.max_batch, parallel=policy.parallel
            )
            self._flat.batcher.stats = stats

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` codes in all (a bulk load's one allocation; flat only)."""
        if self._flat is not None:
            self._flat.reserve(rows)

    def prefers_subset_scan(self, allowed_count: int, nprobe: int | None = None) -> bool:
        """Whether an exact scan of the ``allowed_count`` matching codes beats the filtered IVF probe."""
        if self._ivf is None:
            return False
        return coarse_index.prefers_subset_scan(self._ivf, allowed_count, nprobe or self.nprobe)

    def add(self, ids: IdArray, codes: np.ndarray) -> None:
        if not len(ids):
            return
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(len(ids), self.dimensions // 8)
        if self._flat is not None:
            self._flat.add(_as_ids(ids), codes)
        else:
            self._ivf.add_with_ids(codes, _as_ids(ids))

    def remove(self, ids: IdArray) -> int:
        if not len(ids):
            return 0
        if self._flat is not None:
            return self._flat.remove(_as_ids(ids))
        return int(self._ivf.remove_ids(_as_ids(ids)))

    def search(
        self, query_bits: np.ndarray, k: int, *, allowed: IdArray | None = None, nprobe: int | None = None
    ) -> tuple[IdArray, npt.NDArray[np.int32]]:
        """Ids and Hamming distances of the ``k`` nearest codes, nearest first, ties by smaller id (flat;
        IVF keeps FAISS's order), only ``allowed`` ids. Concurrent flat searches share one scan."""
        _one_thread()
        if k <= 0 or len(self) == 0 or (allowed is not None and not len(allowed)):
            return np.empty(0, np.int64), np.empty(0, np.int32)
        query = np.ascontiguousarray(query_bits, dtype=np.uint8).reshape(-1)
        if self._flat is not None:
            return self._flat.search(query, k, allowed)
        if allowed is not None:
            return coarse_index.filtered_search(self._ivf, query, k, _as_ids(allowed), nprobe or self.nprobe)
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe or self.nprobe  # 0 / None: the index's own (calibrated for auto)
        distances, labels = self._ivf.search(query.reshape(1, -1), min(k, len(self)), params=params)
        keep = labels[0] != _MISSING
        return labels[0][keep].astype(np.int64), distances[0][keep].astype(np.int32)

    def memory_bytes(self) -> int:
        """Bytes the index occupies (flat: codes, ids, live flags; IVF: its serialized size)."""
        if self._flat is not None:
            return self._flat.memory_bytes()
        return int(faiss.serialize_index_binary(self._ivf).nbytes)

    def live_codes(self) -> tuple[IdArray, npt.NDArray[np.uint8]]:
        """(ids, codes) of every code held, in id order (a copy; flat only: IVF raises)."""
        if self._flat is None:
            raise InvalidInputError("An IVF binary index does not hand out its codes.")
        return self._flat.live_pairs()

    def to_bytes(self) -> np.ndarray:
        if self._flat is None:
            return np.asarray(faiss.serialize_index_binary(self._ivf))
        ids, codes = self._flat.live_pairs()
        mapped = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(self.dimensions))
        if len(ids):
            mapped.add_with_ids(np.ascontiguousarray(codes), ids)
        return np.asarray(faiss.serialize_index_binary(mapped))

    @classmethod
    def from_bytes(cls, data: np.ndarray, *, kind: str, nlist: int, nprobe: int) -> BinaryIndex:
        try:
            raw: Any = faiss.deserialize_index_binary(np.ascontiguousarray(data, dtype=np.uint8))
        except RuntimeError as exc:
            raise CorruptStoreError(f"The binary index snapshot cannot be read: {exc}") from exc
        index = cls(int(raw.d), kind=kind, nlist=nlist, nprobe=nprobe)
        if isinstance(raw, faiss.IndexBinaryIVF):
            index._ivf, index._flat, index.kind = raw, None, "ivf"
            if kind == "auto":  # the snapshot's own lists and calibrated nprobe
                index.nlist, index.nprobe = int(raw.nlist), int(raw.nprobe)
            return index
        if not isinstance(raw, faiss.IndexBinaryIDMap):
            raise CorruptStoreError(f"The binary index snapshot holds an unexpected {type(raw).__name__}.")
        inner: Any = faiss.downcast_IndexBinary(raw.index)
        codes = faiss.vector_to_array(inner.xb).reshape(-1, int(raw.d) // 8)
        ids = faiss.vector_to_array(raw.id_map).astype(np.int64)
        if len(ids) != len(codes):
            raise CorruptStoreError("The binary index snapshot's ids and codes do not match.")
        index.reserve(len(ids))
        index.add(ids, codes)
        return index


def hamming_top_k(
    query_bits: np.ndarray, codes: np.ndarray, ids: IdArray, k: int
) -> tuple[IdArray, npt.NDArray[np.int32]]:
    """Exact Hamming top-k over an explicit subset (the filter path of indexes without id selectors),
    nearest first, ties by smaller id."""
    if k <= 0 or not len(ids):
        return np.empty(0, np.int64), np.empty(0, np.int32)
    order = np.argsort(ids, kind="stable")
    slots, distances = scan_top_k(np.ascontiguousarray(codes, dtype=np.uint8)[order], query_bits, k)[0]
    return np.asarray(ids)[order][slots].astype(np.int64), distances


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

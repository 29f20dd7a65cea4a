"""The indexed coarse stage for large collections: binary IVF with filters inside, nprobe set by recall.

FAISS ``IndexBinaryIVF`` keeps what the flat index has: ids are chunk ids (``add_with_ids``, removal by id
never shifts them), it serializes with the rest of the snapshot, and catch-up adds to its lists. What it
lacks, this module adds:

- **Filters inside the search.** FAISS refuses id selectors on binary IVF ("IDSelector is not supported for
  IndexBinaryIVF", 1.15), so ``filtered_search`` runs FAISS's probe of the same lists, over-fetched by the
  allowed share, and keeps the allowed ids; it fetches deeper until the answer is provably the exact top k
  of the allowed codes in those lists. Tiny allowed sets are scanned exactly instead
  (``prefers_subset_scan``): they cost less than the probe and the result is exact.
- **A recall target.** ``calibrate_nprobe`` picks the smallest nprobe whose Hamming candidates match the
  exact scan's for perturbed samples of the collection's own codes.
- **The size rule of the ``auto`` kind** (``wants_ivf``, ``auto_nlist``): flat below ``AUTO_MIN_CHUNKS``,
  where a scan is cheap and exact; IVF past it (bench/search_indexed.py measured the crossover).

Not a graph: usearch's binary HNSW measured 514 B/chunk at 1024 bits (goal 160) and its Python API (2.26)
has no filter predicate; FAISS binary HNSW cannot remove ids. docs/storage.md has the figures.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from rag.types import IdArray

AUTO_MIN_CHUNKS = 50_000  # the measured crossover (docs/storage.md "Index kinds")
DEFAULT_RECALL_TARGET = 0.95
# lists of ~200 codes (at 1M, 4,096 lists): finer lists' binarized centroids stand for their members; at 1M
# N / 400 needed nprobe 512 where N / 200 needs 2 for the same recall (docs/storage.md "List size")
AUTO_POINTS_PER_LIST = 200
_TRAIN_PER_LIST = 64
_CALIBRATION_QUERIES = 64
_CALIBRATION_DEPTH = 100
_QUERY_FLIP = 0.15
_MIN_IVF_CHUNKS = 100
_OVERFETCH = 2  # a filtered probe fetches 2 k / (allowed share) codes first
_MISSING = -1


def wants_ivf(live_chunks: int, threshold: int) -> bool:
    """Whether an ``auto`` collection of ``live_chunks`` should be indexed rather than scanned (never under
    ``_MIN_IVF_CHUNKS``: k-means needs points for its lists, and a scan of so few is instant)."""
    return live_chunks >= max(threshold, _MIN_IVF_CHUNKS)


def auto_nlist(live_chunks: int) -> int:
    """A power of two near ``live_chunks / AUTO_POINTS_PER_LIST`` (at least 16 lists)."""
    target = max(16, live_chunks // AUTO_POINTS_PER_LIST)
    return int(2 ** round(np.log2(target)))


def train_ivf(codes: np.ndarray, dimensions: int, nlist: int, per_list: int = _TRAIN_PER_LIST) -> Any:
    """An empty, trained ``IndexBinaryIVF`` (k-means on up to ``per_list`` codes per list)."""
    sample_size = min(len(codes), nlist * per_list)
    pick = np.sort(np.random.default_rng(0).choice(len(codes), size=sample_size, replace=False))
    ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(dimensions), dimensions, nlist)
    ivf.train(np.ascontiguousarray(codes[pick], dtype=np.uint8))
    return ivf


def calibrate_nprobe(ivf: Any, codes: np.ndarray, target: float) -> int:
    """The smallest power-of-two nprobe whose top-100 Hamming candidates reach ``target`` recall.

    Recall counts a candidate as found when its distance is within the exact 100th distance (ties at the
    boundary are interchangeable for the rescoring stage). Real queries are not in the collection, and a
    collection's own codes make queries far too easy (their near-copies share their list: at 1M the
    self-query proxy chose nprobe 1 where real queries needed 4), so the queries are sampled codes with
    ``_QUERY_FLIP`` of their bits flipped at random: about as far from their neighbours as text queries
    are from their passages (cosine ~0.6, ~0.3 of the sign bits differ).
    """
    n = int(ivf.ntotal)
    if n <= _CALIBRATION_DEPTH:
        return int(ivf.nlist)
    rng = np.random.default_rng(1)
    picked = codes[rng.choice(len(codes), size=min(_CALIBRATION_QUERIES, len(codes)), replace=False)]
    flips = np.packbits(rng.random((len(picked), int(ivf.d))) < _QUERY_FLIP, axis=1)
    queries = np.ascontiguousarray(picked ^ flips)
    exact = faiss.SearchParametersIVF()
    exact.nprobe = int(ivf.nlist)
    truth, _ = ivf.search(queries, _CALIBRATION_DEPTH, params=exact)
    bound = truth[:, -1:]
    nprobe = 1
    while nprobe < ivf.nlist:
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe
        found, labels = ivf.search(queries, _CALIBRATION_DEPTH, params=params)
        hits = ((found <= bound) & (labels >= 0)).sum(axis=1)
        if float(np.mean(np.minimum(hits, _CALIBRATION_DEPTH))) / _CALIBRATION_DEPTH >= target:
            return nprobe
        nprobe *= 2
    return int(ivf.nlist)


def prefers_subset_scan(ivf: Any, allowed_count: int, nprobe: int) -> bool:
    """Whether scanning the allowed codes exactly reads no more than the probed lists would."""
    return allowed_count <= max(expected_probe(ivf, nprobe), 1)


def filtered_search(
    ivf: Any, query: np.ndarray, k: int, allowed: IdArray, nprobe: int
) -> tuple[IdArray, npt.NDArray[np.int32]]:
    """Top ``k`` of the allowed ids inside the ``nprobe`` nearest lists (ties: smaller id first).

    FAISS's own probe (C++, no selector) fetches the nearest ``depth`` codes of the probed lists, over-fetched
    by the allowed share, and the allowed ones are kept. That is the exact filtered answer once the k-th
    kept distance is below the last fetched one (every code at or under it was fetched) or the probe held
    fewer than ``depth`` codes (all were fetched); otherwise ``depth`` grows and the probe repeats. Walking
    the lists in Python instead cost 20-40 us per probed list (docs/storage.md "Index kinds").
    """
    # one False slot past the largest allowed id: ids beyond it clip onto it and are dropped
    flags = np.zeros(int(allowed.max()) + 2, dtype=bool)
    flags[allowed] = True
    params = faiss.SearchParametersIVF()
    params.nprobe = min(nprobe, int(ivf.nlist))
    probe_size = expected_probe(ivf, params.nprobe)
    share = len(allowed) / max(int(ivf.ntotal), 1)
    depth = max(k, min(int(np.ceil(_OVERFETCH * k / share)), 2 * probe_size))
    while True:
        found, labels = ivf.search(query.reshape(1, -1), depth, params=params)
        fetched = labels[0] != _MISSING
        keep = np.take(flags, labels[0][fetched], mode="clip")
        ids, distances = labels[0][fetched][keep], found[0][fetched][keep]
        if not fetched[-1] or (len(ids) >= k and distances[k - 1] < found[0][-1]):
            order = _top_order(ids, distances, k)
            return ids[order].astype(np.int64), distances[order].astype(np.int32)
        depth = min(depth * 4, int(ivf.ntotal) + 1)  # past ntotal the probe is surely all fetched


def expected_probe(ivf: Any, nprobe: int) -> int:
    """Codes an ``nprobe`` probe reads on average (lists of equal size)."""
    return int(ivf.ntotal) * min(nprobe, int(ivf.nlist)) // max(int(ivf.nlist), 1)


def _top_order(ids: IdArray, found: npt.NDArray[np.int32], k: int) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` smallest distances, nearest first, ties by smaller id (no full sort)."""
    if len(found) > k:
        bound = np.partition(found, k - 1)[k - 1]
        narrowed = np.flatnonzero(found <= bound)
        return narrowed[np.lexsort((ids[narrowed], found[narrowed]))[:k]]
    return np.lexsort((ids, found))[:k]

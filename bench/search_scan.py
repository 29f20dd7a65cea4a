"""The dense scan's sections of ``bench/search.py``: the memory-bandwidth floor, the Hamming scan beside
it (and beside the FAISS ``IndexBinaryFlat`` it replaced), one batched scan for many queries, and the
default cascade (the service's default dense settings) against FAISS float32 exact search.

``floor``: a sequential read of the index's own codes (``np.bitwise_xor.reduce`` over a uint64 view, best of
7): no scan can read N x d/8 bytes faster. ``hamming_vs_floor`` is the scan's p50 at the default pool over
that floor. A best-of-7 against a p50 of 200 counts every interruption of a loaded machine against the
scan, so ``hamming_vs_floor_paired`` adds the noise-robust view: rounds of one read then one scan of the
same query, and the median of the per-round ratios (both see the same moment of the machine).
``scan_batch``: ``batch`` queries answered by ONE call of the multi-query scan, per query,
beside the same queries one at a time (interleaved rounds; ``speedup_vs_single`` is the median ratio).
"""

from __future__ import annotations

import time
from typing import Any

import faiss
import numpy as np

from rag.hamming import scan_top_k
from rag.search import MIN_CANDIDATES
from rag.settings import Settings
from rag.store.depth import DEFAULT_ADAPTIVE
from rag.store.scoring import rescore_top_k

FLOOR_REPEATS = 7
PAIRED_ROUNDS = 40
BATCH = 8


def default_pool(top_k: int, multiplier: int | None) -> int:
    """The Hamming pool of a default ``binary+int8`` search: the adaptive rule's fetch when no multiplier
    is set (the default), else rag.search's fixed ``max(k x m, MIN_CANDIDATES)``."""
    if multiplier is None:
        return DEFAULT_ADAPTIVE.pool(top_k)
    return max(top_k * multiplier, MIN_CANDIDATES)


def _words(codes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(codes).reshape(-1).view(np.uint64)


def _read_s(words: np.ndarray) -> float:
    """Seconds for one sequential read of every byte (an XOR reduction: SIMD, one pass, nothing written)."""
    started = time.perf_counter()
    np.bitwise_xor.reduce(words)
    return time.perf_counter() - started


def floor(codes: np.ndarray) -> dict[str, float]:
    """The read floor of ``codes``: the best of a few sequential reads of all its bytes."""
    words = _words(codes)
    best = min(_read_s(words) for _ in range(FLOOR_REPEATS))
    return {"bandwidth_gb_s": words.nbytes / best / 1e9, "hamming_floor_ms": best * 1000}


def paired_vs_floor(codes: np.ndarray, scan: Any, queries: int) -> dict[str, float]:
    """Rounds of one read of the codes then one scan (query i): the median of scan / read, and its range."""
    words = _words(codes)
    ratios = []
    for i in range(min(queries, PAIRED_ROUNDS)):
        read = _read_s(words)
        started = time.perf_counter()
        scan(i)
        ratios.append((time.perf_counter() - started) / read)
    low, median, high = np.percentile(ratios, [10, 50, 90])
    return {"median": float(median), "p10": float(low), "p90": float(high), "rounds": len(ratios)}


def scan_sections(data: Any, timed: Any, percentiles: Any, queries: int) -> dict[str, Any]:
    """``floor``, ``hamming_scan`` (ours, at the default pool), ``hamming_faiss_flat`` (the old path, same
    k), ``hamming_vs_floor`` and ``scan_batch``, all on ``data``'s codes in this run."""
    pool = default_pool(Settings().top_k, Settings().rescore_multiplier)
    _, codes = data.binary.live_codes()
    measured = floor(codes)

    def ours(i: int) -> Any:
        return data.binary.search(data.query_bits[i], pool)

    _, ours_ms = timed(ours, queries)
    old = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    old.add(codes)
    _, old_ms = timed(lambda i: old.search(data.query_bits[i : i + 1], pool), queries)
    scan, previous = percentiles(ours_ms), percentiles(old_ms)
    return {
        "floor": measured,
        "hamming_scan": {**scan, "k": pool},
        "hamming_faiss_flat": {**previous, "k": pool},
        "hamming_vs_floor": scan["p50"] / measured["hamming_floor_ms"],
        "hamming_vs_floor_paired": paired_vs_floor(codes, ours, queries),
        "scan_batch": batch_section(codes, data.query_bits, pool),
    }


def batch_section(codes: np.ndarray, query_bits: np.ndarray, k: int) -> dict[str, Any]:
    """``BATCH`` queries in one multi-query scan beside the same queries scanned one by one, interleaved
    round by round (so the machine's drift hits both alike): per-query ms (medians) and the median of the
    per-round ratios."""
    singles, batches, ratios = [], [], []
    for start in range(0, len(query_bits) - BATCH + 1, BATCH):
        group = query_bits[start : start + BATCH]
        started = time.perf_counter()
        for query in group:
            scan_top_k(codes, query, k)
        single = time.perf_counter() - started
        started = time.perf_counter()
        scan_top_k(codes, group, k)
        batch = time.perf_counter() - started
        singles.append(single * 1000 / BATCH)
        batches.append(batch * 1000 / BATCH)
        ratios.append(single / batch)
    if not ratios:
        return {"batch": BATCH, "rounds": 0}
    return {
        "batch": BATCH,
        "rounds": len(ratios),
        "per_query_ms": float(np.median(batches)),
        "single_per_query_ms": float(np.median(singles)),
        "speedup_vs_single": float(np.median(ratios)),
    }


def default_cascade(
    data: Any, timed: Any, percentiles: Any, recall: Any, truth: Any, float_p50: float, queries: int
) -> dict[str, float]:
    """The default dense search (``default_pool``, adaptive depth, int8 rescoring, top 10) vs float32."""
    settings = Settings()
    pool = default_pool(settings.top_k, settings.rescore_multiplier)

    def cascade(i: int) -> list[int]:
        candidates, distances = data.binary.search(data.query_bits[i], pool)
        if settings.rescore_multiplier is None:  # the adaptive depth, as VectorState cuts it
            bits = data.query_bits.shape[1] * 8
            candidates = candidates[: DEFAULT_ADAPTIVE.depth(distances, settings.top_k, bits)]
        scored = rescore_top_k(data.query_int8[i], data.int8, data.id_to_row, candidates, settings.top_k)
        return [c for c, _ in scored]

    found, ms = timed(cascade, queries)
    p50 = percentiles(ms)["p50"]
    return {"p50": p50, "speedup_p50": float_p50 / p50, "recall_vs_int8_exact": recall(found, truth)}


def scan_table(result: dict[str, Any]) -> str:
    f, scan, old, batch, cascade = (
        result["floor"],
        result["hamming_scan"],
        result["hamming_faiss_flat"],
        result["scan_batch"],
        result["default_cascade"],
    )
    return (
        f"floor {f['hamming_floor_ms']:.2f} ms ({f['bandwidth_gb_s']:.1f} GB/s); Hamming top-{scan['k']} "
        f"p50 {scan['p50']:.2f} ms = {result['hamming_vs_floor']:.2f}x the floor "
        f"({result['hamming_vs_floor_paired']['median']:.2f}x paired; FAISS IndexBinaryFlat "
        f"{old['p50']:.2f} ms); batch of {batch['batch']}: {batch['per_query_ms']:.2f} ms per query "
        f"({batch['speedup_vs_single']:.1f}x single); default cascade p50 {cascade['p50']:.2f} ms, "
        f"{cascade['speedup_p50']:.1f}x float32, recall@10 vs int8-exact "
        f"{cascade['recall_vs_int8_exact']:.3f}"
    )

"""Search benchmark: binary + int8 rescoring beside FAISS float32 exact search, same vectors, same run.

Synthetic clustered vectors (PERFORMANCE.md section 0): x = normalize(c_j + n) with N/250 random unit
centres c_j and n ~ N(0, I/d); queries from the same mixture; sign bits of x, int8 = round(x * 127 / g) with
one global scale g (the 99.99th percentile of |x|). Generated in blocks to bound RAM. Our path is the store's
own code: ``BinaryIndex.search`` (the flat exact scan, ``rag/hamming.py``, ids as chunk ids) for top
``k x m``, then ``rescore_top_k`` (int8 rows of a memory-mapped file scored in place by ``rag._int8``).
The index is built directly, not through SQLite (inserting 1M chunks through the store would only time
SQLite). Query embedding is excluded. One thread per query (OMP_WAIT_POLICY=PASSIVE, BLAS pinned to one
thread, as in the service).

Each ``results[i]`` also holds, measured in the same run (``bench/search_scan.py``): ``floor`` (the read floor
of the codes: ``bandwidth_gb_s``, ``hamming_floor_ms``), ``hamming_scan`` and ``hamming_faiss_flat`` (the
scan at the default pool, ours and the FAISS flat index it replaced), ``hamming_vs_floor``, ``scan_batch``
(one scan for 8 queries, per query) and ``default_cascade`` (``p50``, ``speedup_p50`` vs float32,
``recall_vs_int8_exact`` of the default dense settings).

    python bench/search.py                          # N = 100k and 1M, d = 1024
    python bench/search.py --sizes 100000 --json    # quick run; one JSON object on stdout
    python bench/search.py --sizes 0                # only the store-level lexical / hybrid section

A second, store-level section (``bench/search_lexical.py``) builds real collections through ``rag.store`` and
times the BM25 stage (the top-k lexical index) and hybrid fusion per stage beside ``binary+int8``, with the
stages they replaced (FTS5, a ``k x m`` rescoring pool) in the same run (``--lexical-sizes``, default 20k
and 100k chunks, ~2 min here; ``300000,1000000`` also work, minutes of build each; ``0`` skips it).
"""

from __future__ import annotations

import os

# Before faiss loads libgomp: idle OpenMP workers must sleep, not spin (PERFORMANCE.md section 6.3).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import search_indexed
from indexed_peer import indexed_table
from search_lexical import lexical_table, run_lexical
from search_scan import default_cascade, scan_sections, scan_table

from rag.index import BinaryIndex, FloatFlatIndex
from rag.quantization import calibrate_scale, scaled_int8, sign_bits
from rag.store.scoring import one_blas_thread, rescore_top_k

BLOCK = 50_000
K = 10


def vectors(n: int, d: int, centres: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    """Unit vectors of the mixture, ``BLOCK`` rows at a time."""
    rng = np.random.default_rng(seed)
    for start in range(0, n, BLOCK):
        rows = min(BLOCK, n - start)
        x = centres[rng.integers(len(centres), size=rows)] + rng.standard_normal(
            (rows, d), np.float32
        ) / np.sqrt(d)
        yield (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class Data:
    """The benchmark's vectors in the three layouts: float32 baseline, binary index, int8 rows on disk."""

    def __init__(self, n: int, d: int, queries: int, folder: Path, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        centres = rng.standard_normal((max(1, n // 250), d)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        self.queries = next(vectors(queries, d, centres, seed + 1))
        first = next(vectors(min(n, BLOCK), d, centres, seed + 2))
        self.scale = calibrate_scale(first, 0.9999)
        self.baseline = FloatFlatIndex(np.empty((0, d), np.float32))
        self.binary = BinaryIndex(d)
        self.binary.reserve(n)
        path = folder / "rows.int8"
        with open(path, "wb") as rows:
            for start, block in zip(range(0, n, BLOCK), vectors(n, d, centres, seed + 2), strict=True):
                self.baseline.add(block)
                self.binary.add(np.arange(start, start + len(block), dtype=np.int64), sign_bits(block))
                rows.write(scaled_int8(block, self.scale).tobytes())
        self.int8 = np.memmap(path, dtype=np.int8, mode="r", shape=(n, d))
        self.id_to_row = np.arange(n, dtype=np.int64)
        self.query_int8 = scaled_int8(self.queries, self.scale)
        self.query_bits = sign_bits(self.queries)


def timed(fn: Callable[[int], Any], count: int) -> tuple[list[Any], list[float]]:
    """Results and per-call milliseconds of fn(0..count-1), after a warm-up of a few calls."""
    for i in range(min(5, count)):
        fn(i)
    results, times = [], []
    for i in range(count):
        started = time.perf_counter()
        results.append(fn(i))
        times.append((time.perf_counter() - started) * 1000)
    return results, times


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def int8_exact_truth(data: Data) -> list[set[int]]:
    """int8-exact top-K of every query, by blocks of rows and one GEMM per block (a batched oracle)."""
    queries = data.query_int8.astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    best_ids = np.empty((len(queries), 0), np.int64)
    best_scores = np.empty((len(queries), 0), np.float32)
    for start in range(0, len(data.int8), BLOCK):
        block = np.asarray(data.int8[start : start + BLOCK], dtype=np.float32)
        norms = np.linalg.norm(block, axis=1)
        scores = (queries @ block.T) / np.where(norms > 0, norms, 1)
        ids = np.broadcast_to(np.arange(start, start + len(block)), scores.shape)
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_ids = np.concatenate([best_ids, ids], axis=1)
        keep = np.argpartition(-merged_scores, K - 1, axis=1)[:, :K]
        best_scores = np.take_along_axis(merged_scores, keep, axis=1)
        best_ids = np.take_along_axis(merged_ids, keep, axis=1)
    return [set(row.tolist()) for row in best_ids]


def recall(found: list[list[int]], truth: list[set[int]]) -> float:
    """Mean overlap of the first K ids with the truth, over the queries both lists cover."""
    pairs = list(zip(found, truth, strict=False))
    return sum(len(set(f[:K]) & t) for f, t in pairs) / (K * len(pairs))


def run_size(
    n: int, d: int, queries: int, baseline_queries: int, multipliers: list[int], peer: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        data = Data(n, d, queries, Path(folder))
        built = time.perf_counter() - started
        truth = int8_exact_truth(data)
        float_found, float_ms = timed(
            lambda i: data.baseline.search(data.queries[i], K).tolist(), baseline_queries
        )
        binary_found, binary_ms = timed(
            lambda i: data.binary.search(data.query_bits[i], K)[0].tolist(), queries
        )
        float_stats, ours = percentiles(float_ms), {}
        for m in multipliers:

            def pipeline(i: int, m: int = m) -> list[int]:
                candidates, _ = data.binary.search(data.query_bits[i], K * m)
                return [
                    c for c, _ in rescore_top_k(data.query_int8[i], data.int8, data.id_to_row, candidates, K)
                ]

            found, ms = timed(pipeline, queries)
            stats = percentiles(ms)
            ours[f"binary top-{K * m} + int8 rescore"] = {
                **stats,
                "speedup_p50": float_stats["p50"] / stats["p50"],
                "speedup_p99": float_stats["p99"] / stats["p99"],
                "recall_vs_int8_exact": recall(found, truth),
                "recall_vs_float32": recall(found, [set(f) for f in float_found])
                if baseline_queries
                else None,
            }
        dense = scan_sections(data, timed, percentiles, queries)
        dense["default_cascade"] = default_cascade(
            data, timed, percentiles, recall, truth, float_stats["p50"], queries
        )
        dense.update(indexed_sections(data, truth, peer))
        resident = data.binary.memory_bytes() + data.id_to_row.nbytes
        return {
            **dense,
            "n": n,
            "d": d,
            "queries": queries,
            "baseline_queries": baseline_queries,
            "build_s": built,
            "float32_flat": {**float_stats, "recall_vs_int8_exact": recall(float_found, truth)},
            "binary_only_k10": {
                **percentiles(binary_ms),
                "recall_vs_int8_exact": recall(binary_found, truth),
            },
            "ours": ours,
            "bytes_per_chunk": {
                "float32": 4 * d,
                "ours_resident": resident / n,
                "ours_with_int8_resident": resident / n + d,
            },
            "memory_ratio": {
                "resident": 4 * d * n / resident,
                "with_int8_resident": 4 * d * n / (resident + d * n),
            },
        }


def indexed_sections(data: Data, truth: list[set[int]], peer: bool) -> dict[str, Any]:
    """The indexed coarse stage (``indexed``: the ``auto`` kind's IVF; ``indexed_sweep`` over nprobe) and
    Qdrant's engine core beside it (``peer_qdrant_edge``, ``peer_points``, ``indexed_at_peer_recall``: when
    ``peer`` and the ``bench`` extra is installed), on the same data."""
    sections: dict[str, Any] = search_indexed.indexed_sections(data, truth, peer=peer)
    return sections


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "faiss": version("faiss-cpu"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def table(result: dict[str, Any]) -> str:
    f, b, size, ratio = (
        result["float32_flat"],
        result["binary_only_k10"],
        result["bytes_per_chunk"],
        result["memory_ratio"],
    )
    lines = [
        f"N = {result['n']:,}, d = {result['d']} ({result['queries']} queries; float32 timed on "
        f"{result['baseline_queries']}); bytes/chunk: float32 {size['float32']}, ours "
        f"{size['ours_resident']:.0f} resident (+{result['d']} int8 mmapped); memory ratio "
        f"{ratio['resident']:.1f}x ({ratio['with_int8_resident']:.1f}x with the int8 rows in RAM)",
        "| path | p50 ms | p99 ms | speed-up p50 / p99 vs float32 | recall@10 vs int8-exact | vs float32 |",
        "|---|---|---|---|---|---|",
        f"| float32 IndexFlatIP (exact) | {f['p50']:.2f} | {f['p99']:.2f} | 1x | "
        f"{f['recall_vs_int8_exact']:.3f} | 1 |",
        f"| binary only, k=10 | {b['p50']:.2f} | {b['p99']:.2f} | {f['p50'] / b['p50']:.1f}x / "
        f"{f['p99'] / b['p99']:.1f}x | {b['recall_vs_int8_exact']:.3f} | |",
    ]
    for name, row in result["ours"].items():
        versus_float = "" if row["recall_vs_float32"] is None else f"{row['recall_vs_float32']:.3f}"
        lines.append(
            f"| {name} | {row['p50']:.2f} | {row['p99']:.2f} | {row['speedup_p50']:.1f}x / "
            f"{row['speedup_p99']:.1f}x | {row['recall_vs_int8_exact']:.3f} | {versus_float} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N values (0: skip)")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--baseline-queries", type=int, default=0, help="float32 timings (default: 200, 40 at 1M+)"
    )
    parser.add_argument("--multipliers", default="4,10,40", help="rescore multipliers (candidates = 10 x m)")
    parser.add_argument(
        "--lexical-sizes",
        default="20000,100000",
        help="chunks of the store-level BM25 / hybrid section (0: skip)",
    )
    parser.add_argument("--lexical-queries", type=int, default=100, help="queries per mode in that section")
    parser.add_argument(
        "--top-word-queries", type=int, default=20, help="queries holding the most common word, per mode"
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure Qdrant's engine core beside the indexed stage (needs the bench extra; slow at 1M)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "results": [], "lexical": []}
    with one_blas_thread():
        for n in (int(s) for s in args.sizes.split(",") if int(s) > 0):
            baseline = args.baseline_queries or (40 if n >= 1_000_000 else args.queries)
            multipliers = [int(m) for m in args.multipliers.split(",")]
            result = run_size(n, args.dim, args.queries, min(baseline, args.queries), multipliers, args.peer)
            report["results"].append(result)
            if not args.json:
                print(table(result) + "\n" + scan_table(result) + "\n" + indexed_table(result), flush=True)
        for n in (int(s) for s in args.lexical_sizes.split(",") if int(s) > 0):
            lexical = run_lexical(n, args.dim, args.lexical_queries, args.top_word_queries)
            report["lexical"].append(lexical)
            if not args.json:
                print(lexical_table(lexical) + "\n", flush=True)
    report["machine"]["load_avg_after"] = os.getloadavg()
    print(json.dumps(report, indent=2) if args.json else f"machine: {report['machine']}")


if __name__ == "__main__":
    main()

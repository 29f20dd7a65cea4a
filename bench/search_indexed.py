"""The indexed coarse stage (index kind ``auto`` past its threshold: binary IVF + int8 rescoring) beside the
flat cascade and Qdrant's engine core (``qdrant-edge-py``, in process), same vectors, same run.

Every path answers top 10 and is scored against the int8-exact top 10 of the same rows (recall@10):

- ``flat``: ``BinaryIndex`` flat scan, top ``max(10 m, 100)`` Hamming candidates, int8 rescoring (the
  store's ``rescore_top_k``): today's cascade, for the crossover.
- ``indexed``: ``BinaryIndex.build(kind="auto")`` -> IVF with ``auto_nlist`` lists and nprobe calibrated to
  the recall target (0.95), the same candidate depth and rescoring.
- ``peer_qdrant_edge``: Qdrant's engine core over the same int8 rows (bench/indexed_peer.py), at the same
  candidate depth (oversampling ``depth / 10``, its default ``hnsw_ef``); ``peer_points`` adds deeper,
  slower, higher-recall settings (``PEER_POINTS``).
- ``indexed_sweep``: the same IVF (built once) at every power-of-two nprobe, at each peer point's depth;
  ``indexed_at_peer_recall``: for each peer point, the swept setting with the lowest p50 whose recall is at
  least the peer's, timed again right after the peer, with ``p50_vs_peer`` (below 1: the IVF is faster), or
  ``reached: false`` when no swept setting gets there.

Vectors (``--data``): ``minilm`` = real all-MiniLM-L6-v2 embeddings (384-d) of SciFact chunks (50-word
windows, built by ``--embed`` into ``--cache``; SciFact queries as queries); past the real rows, a documented
synthetic extension: each extra row is a real row plus gaussian noise of norm ``--noise`` (0.6, about 31
degrees), renormalized, i.e. a cloud around every real embedding. ``clustered`` = bench/search.py's mixture.

    python bench/search_indexed.py --sizes 20000,100000 --json
    python bench/search_indexed.py --sizes 100000 --rabitq        # + the asymmetric RaBitQ coarse stage
    flock /tmp/bigbench.lock python bench/search_indexed.py --sizes 1000000

``measure_indexed(codes, int8_rows, query_bits, query_int8, truth)`` is what bench/search.py calls.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.index import BinaryIndex
from rag.search import MIN_CANDIDATES
from rag.store.scoring import one_blas_thread, rescore_top_k

K = 10
# Qdrant's operating points: (candidate depth as a multiple of ours, hnsw_ef; None: Qdrant's default). The
# first is the contract's ``peer_qdrant_edge`` (the depth of our cascade); the deeper ones buy recall with
# time, and the IVF sweep gets the same depths, so each side may spend what the other does.
PEER_POINTS: tuple[tuple[int, int | None], ...] = ((1, None), (2, 256), (4, 512))
# (nprobe or None for the index's own, candidate depth) -> (p50 ms, recall@10) of the IVF cascade
Timed = Callable[[int | None, int], tuple[float, float]]


def p50_and_found(search: Callable[[int], list[int]], queries: int) -> tuple[float, list[list[int]]]:
    """Median latency (ms) of ``search(i)`` over the queries (after one warm-up pass), and its answers."""
    for i in range(min(queries, 20)):
        search(i)
    times, found = [], []
    for i in range(queries):
        started = time.perf_counter()
        found.append(search(i))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found


def recall(found: list[list[int]], truth: list[set[int]]) -> float:
    return float(np.mean([len(set(f[:K]) & t) / K for f, t in zip(found, truth, strict=False)]))


def cascade(
    index: BinaryIndex,
    int8_rows: np.ndarray,
    qbits: np.ndarray,
    qint8: np.ndarray,
    depth: int,
    nprobe: int | None = None,
) -> Callable[[int], list[int]]:
    id_to_row = np.arange(len(int8_rows), dtype=np.int64)

    def search(i: int) -> list[int]:
        ids, _ = index.search(qbits[i], depth, nprobe=nprobe)
        return [c for c, _ in rescore_top_k(qint8[i], int8_rows, id_to_row, ids, K)]

    return search


def flat_codes(index: BinaryIndex) -> np.ndarray:
    """The packed codes of a flat ``BinaryIndex`` whose ids were added as 0..n-1 in order (bench/search.py's
    ``Data.binary``), in id order: what ``measure_indexed`` takes."""
    ids, codes = index.live_codes()
    if not np.array_equal(ids, np.arange(len(ids))):
        raise ValueError("flat_codes wants an index whose ids are 0..n-1")
    return codes


def measure_indexed(
    codes: np.ndarray,
    int8_rows: np.ndarray,
    query_bits: np.ndarray,
    query_int8: np.ndarray,
    truth: list[set[int]],
    *,
    multiplier: int = 4,
    peer: bool = True,
    sweep: bool = False,
) -> dict[str, Any]:
    """``indexed`` and ``peer_qdrant_edge`` (``{p50, recall_vs_int8_exact}``), the nprobe sweep and the
    comparison at equal recall, for chunk ids 0..n-1.

    ``codes`` (n, d/8) packed sign bits, ``int8_rows`` (n, d) (a memmap is fine), the queries' bits and int8
    codes, ``truth`` the int8-exact top-10 id sets (bench/search.py's ``int8_exact_truth``). One IVF is built;
    ``indexed_sweep`` probes it at every power-of-two nprobe (a search parameter) and at each candidate
    depth a peer point uses. ``sweep`` adds the older ``sweep`` rows (the same figures, one list).
    """
    n, d = int8_rows.shape
    depth = max(K * multiplier, MIN_CANDIDATES)
    started = time.perf_counter()
    index = BinaryIndex.build(d, np.arange(n, dtype=np.int64), codes, kind="auto", auto_min_chunks=0)
    build_s = time.perf_counter() - started

    def timed(nprobe: int | None, candidates: int) -> tuple[float, float]:  # p50 ms, recall
        search = cascade(index, int8_rows, query_bits, query_int8, candidates, nprobe)
        p50, found = p50_and_found(search, len(truth))
        return p50, recall(found, truth)

    out: dict[str, Any] = {}
    with one_blas_thread():
        p50, found_recall = timed(None, depth)
        out["indexed"] = {"p50": p50, "recall_vs_int8_exact": found_recall}
        out["indexed_config"] = {
            "kind": index.kind,
            "nlist": index.nlist,
            "nprobe": index.nprobe,
            "depth": depth,
            "build_s": round(build_s, 1),
            "bytes_per_chunk": index.memory_bytes() / n + 8,
        }
        rows = [
            _swept(timed, nprobe, depth * factor)
            for factor in sorted({factor for factor, _ in PEER_POINTS})
            for nprobe in _powers_of_two(index.nlist)
        ]
        out["indexed_sweep"] = rows
        if peer:
            from indexed_peer import beside_peer

            out.update(beside_peer(int8_rows, query_int8[: len(truth)], truth, depth, rows, timed))
    if sweep:
        out["sweep"] = [{"path": "indexed", **row} for row in rows if row["depth"] == depth] + [
            {"path": "peer_qdrant_edge", **point} for point in out.get("peer_points", [])
        ]
    return out


def _swept(timed: Timed, nprobe: int, depth: int) -> dict[str, Any]:
    p50, found_recall = timed(nprobe, depth)
    return {"nprobe": nprobe, "depth": depth, "p50": p50, "recall_vs_int8_exact": found_recall}


def _powers_of_two(limit: int) -> list[int]:
    return [1 << i for i in range(limit.bit_length()) if 1 << i <= limit]


def main() -> None:
    from indexed_data import build, embed_scifact
    from indexed_extras import measure_rabitq, measure_usearch, memory_at
    from indexed_peer import indexed_table

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=("minilm", "clustered"), default="minilm")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("RAG_BENCH_CACHE", "/tmp/rag-bench-minilm"))
    )
    parser.add_argument(
        "--embed", type=int, default=0, help="embed this many SciFact chunks into --cache first"
    )
    parser.add_argument("--noise", type=float, default=0.6)
    parser.add_argument("--multiplier", type=int, default=4)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--rabitq", action="store_true")
    parser.add_argument(
        "--usearch", action="store_true", help="also the graph candidate (usearch binary HNSW)"
    )
    parser.add_argument(
        "--memory", type=int, default=0, help="also measure bytes/chunk at 1024-d over this many"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.embed:
        embed_scifact(args.cache, args.embed)
    results = []
    for n in (int(s) for s in args.sizes.split(",") if int(s)):
        with tempfile.TemporaryDirectory() as folder:
            vectors = build(args.data, n, args.queries, Path(folder), args.cache, args.noise)
            depth = max(K * args.multiplier, MIN_CANDIDATES)
            flat = BinaryIndex.build(vectors.codes.shape[1] * 8, np.arange(n, dtype=np.int64), vectors.codes)
            with one_blas_thread():
                search = cascade(flat, vectors.int8_rows, vectors.query_bits, vectors.query_int8, depth)
                p50, found = p50_and_found(search, len(vectors.truth))
            del flat
            row: dict[str, Any] = {
                "n": n,
                "d": vectors.int8_rows.shape[1],
                "real_rows": vectors.real_rows,
                "flat": {"p50": p50, "recall_vs_int8_exact": recall(found, vectors.truth)},
            }
            row.update(
                measure_indexed(
                    vectors.codes,
                    vectors.int8_rows,
                    vectors.query_bits,
                    vectors.query_int8,
                    vectors.truth,
                    multiplier=args.multiplier,
                    peer=not args.no_peer,
                    sweep=args.sweep,
                )
            )
            if args.rabitq:
                row["rabitq"] = measure_rabitq(vectors, depth)
            if args.usearch:
                row["usearch_hnsw"] = measure_usearch(vectors, depth)
            results.append(row)
            if not args.json:
                print(json.dumps(row) + "\n" + indexed_table(row), flush=True)
    out: dict[str, Any] = {
        "data": args.data,
        "noise": args.noise,
        "queries": args.queries,
        "results": results,
    }
    if args.memory:
        out["memory_bytes_per_chunk"] = memory_at(args.memory)
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()


def indexed_sections(data: Any, truth: list[set[int]], *, peer: bool = True) -> dict[str, Any]:
    """bench/search.py's hook: ``indexed`` and ``peer_qdrant_edge`` on its ``Data`` (the same codes, int8
    rows and queries as its flat cascade); the peer only when ``qdrant_edge`` (``bench`` extra) is here."""
    peer = peer and importlib.util.find_spec("qdrant_edge") is not None
    codes = flat_codes(data.binary)
    return measure_indexed(codes, data.int8, data.query_bits, data.query_int8, truth, peer=peer)

"""Qdrant's engine core (``qdrant-edge-py``, in process) as bench/search_indexed.py's benchmark-only peer,
and the comparison at equal recall (``beside_peer``, ``indexed_table``).

An ``EdgeShard`` over the same int8 rows (as floats): float16 storage, binary quantization in RAM, HNSW
(m 16, ef_construct 100) over it, rescoring on one search thread. Built once; every operating point
(oversampling, ``hnsw_ef``) is a search parameter of the same shard.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from search_indexed import PEER_POINTS, K, Timed, p50_and_found, recall

_UPSERT_BLOCK = 2000


class QdrantPeer:
    """``with QdrantPeer(int8_rows) as peer: search = peer.searcher(queries, oversampling, hnsw_ef)``."""

    def __init__(self, int8_rows: np.ndarray) -> None:
        import qdrant_edge as qe

        self._qe: Any = qe
        self._folder = Path(tempfile.mkdtemp(prefix="qdrant-edge-"))
        n, d = int8_rows.shape
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=d, distance=qe.Distance.Cosine, datatype=qe.VectorStorageDatatype.Float16
            ),
            hnsw_config=qe.HnswIndexConfig(
                m=16, ef_construct=100, full_scan_threshold=1, max_indexing_threads=2
            ),
            quantization_config=qe.BinaryQuantizationConfig(always_ram=True),
            optimizers=qe.EdgeOptimizersConfig(default_segment_number=1, indexing_threshold=1),
            max_search_threads=1,
            wal_enabled=False,
        )
        started = time.perf_counter()
        try:
            self._shard: Any = qe.EdgeShard.create(str(self._folder / "shard"), config)
            for start in range(0, n, _UPSERT_BLOCK):
                block = np.asarray(int8_rows[start : start + _UPSERT_BLOCK], dtype=np.float32)
                points = [qe.Point(start + j, v) for j, v in enumerate(block)]
                self._shard.update(qe.UpdateOperation.upsert_points(points))
            self._shard.optimize()
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        self.build_s = time.perf_counter() - started

    def searcher(
        self, query_int8: np.ndarray, oversampling: float, hnsw_ef: int | None
    ) -> Callable[[int], list[int]]:
        """``search(i)``: the top-10 point ids of query ``i`` at this operating point."""
        qe = self._qe
        queries = [q.astype(np.float32).tolist() for q in query_int8]
        quant = qe.QuantizationSearchParams(rescore=True, oversampling=oversampling)
        params = qe.SearchParams(hnsw_ef=hnsw_ef, quantization=quant)

        def search(i: int) -> list[int]:
            request = qe.SearchRequest(query=qe.Query.Nearest(queries[i]), limit=K, params=params)
            return [int(p.id) for p in self._shard.search(request)]

        return search

    def __enter__(self) -> QdrantPeer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self._shard.close()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)


def beside_peer(
    int8_rows: np.ndarray,
    query_int8: np.ndarray,
    truth: list[set[int]],
    depth: int,
    rows: list[dict[str, Any]],
    timed: Timed,
) -> dict[str, Any]:
    """Qdrant's core at each of ``PEER_POINTS``, and right after each, the cheapest swept IVF setting that
    reaches its recall, timed again (both then run under the same load)."""
    points, matches = [], []
    with QdrantPeer(int8_rows) as qdrant:
        for factor, ef in PEER_POINTS:
            search = qdrant.searcher(query_int8, depth * factor / K, ef)
            p50, found = p50_and_found(search, len(truth))
            point = {"oversampling": depth * factor / K, "hnsw_ef": ef, "p50": p50}
            point["recall_vs_int8_exact"] = recall(found, truth)
            points.append(point)
            matches.append(at_recall(point, rows, timed))
        build_s = qdrant.build_s
    first = points[0]
    return {
        "peer_qdrant_edge": {key: first[key] for key in ("p50", "recall_vs_int8_exact")},
        "peer_config": {
            "oversampling": first["oversampling"],
            "hnsw_ef": "default",
            "build_s": round(build_s, 1),
        },
        "peer_points": points,
        "indexed_at_peer_recall": matches,
    }


def at_recall(
    point: dict[str, Any],
    rows: list[dict[str, Any]],
    timed: Timed,
) -> dict[str, Any]:
    """The cheapest swept setting whose recall is at least the peer point's: at each depth the smallest such
    nprobe (more lists never cost less, whatever one noisy p50 says), then the depth with the lowest p50."""
    reaching = [row for row in rows if row["recall_vs_int8_exact"] >= point["recall_vs_int8_exact"]]
    if not reaching:
        best = max(row["recall_vs_int8_exact"] for row in rows)
        return {"peer": point, "reached": False, "best_swept_recall": best}
    smallest: dict[int, dict[str, Any]] = {}
    for row in reaching:
        if row["depth"] not in smallest or row["nprobe"] < smallest[row["depth"]]["nprobe"]:
            smallest[row["depth"]] = row
    pick = min(smallest.values(), key=lambda row: row["p50"])
    p50, _ = timed(pick["nprobe"], pick["depth"])
    return {
        "peer": point,
        "reached": True,
        "nprobe": pick["nprobe"],
        "depth": pick["depth"],
        "p50": p50,
        "sweep_p50": pick["p50"],
        "recall_vs_int8_exact": pick["recall_vs_int8_exact"],
        "p50_vs_peer": p50 / point["p50"],
    }


def indexed_table(result: dict[str, Any]) -> str:
    """The indexed stage beside Qdrant's core, and the IVF setting that matches each peer point's recall."""
    config, own = result.get("indexed_config"), result.get("indexed")
    if config is None or own is None:
        return ""
    lines = [
        "| indexed stage (same run) | setting | p50 ms | recall@10 vs int8-exact | p50 vs the peer |",
        "|---|---|---|---|---|",
        f"| IVF, auto (calibrated) | nprobe {config['nprobe']} of {config['nlist']}, "
        f"depth {config['depth']} | {own['p50']:.2f} | {own['recall_vs_int8_exact']:.3f} | |",
    ]
    for match in result.get("indexed_at_peer_recall", []):
        peer = match["peer"]
        ef = peer["hnsw_ef"] or "default"
        lines.append(
            f"| Qdrant core | oversampling {peer['oversampling']:g}, ef {ef} | {peer['p50']:.2f} | "
            f"{peer['recall_vs_int8_exact']:.3f} | 1 |"
        )
        if match["reached"]:
            lines.append(
                f"| IVF at that recall | nprobe {match['nprobe']}, depth {match['depth']} | "
                f"{match['p50']:.2f} | {match['recall_vs_int8_exact']:.3f} | {match['p50_vs_peer']:.2f}x |"
            )
        else:
            lines.append(f"| IVF at that recall | none swept (best {match['best_swept_recall']:.3f}) | | | |")
    by_depth: dict[int, list[str]] = {}
    for row in result.get("indexed_sweep", []):
        cell = f"{row['nprobe']}: {row['p50']:.2f}/{row['recall_vs_int8_exact']:.3f}"
        by_depth.setdefault(row["depth"], []).append(cell)
    lines += [
        f"IVF sweep, depth {depth} (nprobe: p50 ms/recall): {', '.join(cells)}"
        for depth, cells in by_depth.items()
    ]
    return "\n".join(lines) + "\n"

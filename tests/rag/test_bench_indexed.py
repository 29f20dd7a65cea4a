"""bench/search_indexed.py's contract: ``measure_indexed`` returns the issue's keys, recall is measured
against the int8-exact truth it is given (a wrong truth scores zero), the nprobe sweep probes the one IVF at
each setting (all lists: the flat cascade's answers), and the equal-recall pick is the cheapest that reaches
the peer's recall."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from indexed_data import clustered_blocks, int8_exact_truth  # noqa: E402
from indexed_peer import at_recall, indexed_table  # noqa: E402
from search_indexed import PEER_POINTS, cascade, measure_indexed, p50_and_found, recall  # noqa: E402

from rag.index import BinaryIndex  # noqa: E402
from rag.quantization import calibrate_scale, scaled_int8, sign_bits  # noqa: E402


def _inputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[set[int]]]:
    points = next(clustered_blocks(n + 30, 128))
    rows, queries = points[:n], points[n:]
    scale = calibrate_scale(rows, 0.9999)
    int8_rows, query_int8 = scaled_int8(rows, scale), scaled_int8(queries, scale)
    return sign_bits(rows), int8_rows, sign_bits(queries), query_int8, int8_exact_truth(int8_rows, query_int8)


def test_measure_indexed_reports_the_contract_and_real_recall() -> None:
    codes, int8_rows, query_bits, query_int8, truth = _inputs(4000)
    result = measure_indexed(codes, int8_rows, query_bits, query_int8, truth, peer=False)
    assert set(result["indexed"]) == {"p50", "recall_vs_int8_exact"} and result["indexed"]["p50"] > 0
    assert result["indexed_config"]["kind"] == "ivf"
    assert result["indexed"]["recall_vs_int8_exact"] >= 0.8
    wrong = [{-1} for _ in truth]
    assert (
        measure_indexed(codes, int8_rows, query_bits, query_int8, wrong, peer=False)["indexed"][
            "recall_vs_int8_exact"
        ]
        == 0.0
    )


def test_the_sweep_probes_one_ivf_per_setting_and_all_lists_give_the_flat_answers() -> None:
    codes, int8_rows, query_bits, query_int8, truth = _inputs(4000)
    result = measure_indexed(codes, int8_rows, query_bits, query_int8, truth, peer=False, sweep=True)
    nlist = result["indexed_config"]["nlist"]
    rows = result["indexed_sweep"]
    depths = sorted({100 * factor for factor, _ in PEER_POINTS})
    assert [(r["depth"], r["nprobe"]) for r in rows] == [
        (depth, 1 << i) for depth in depths for i in range(nlist.bit_length())
    ]
    flat = BinaryIndex.build(128, np.arange(4000, dtype=np.int64), codes)
    for depth in depths:
        _, found = p50_and_found(cascade(flat, int8_rows, query_bits, query_int8, depth), len(truth))
        exhaustive = next(r for r in rows if (r["depth"], r["nprobe"]) == (depth, nlist))
        assert exhaustive["recall_vs_int8_exact"] == recall(found, truth)
    one_list = next(r for r in rows if (r["depth"], r["nprobe"]) == (100, 1))
    assert one_list["recall_vs_int8_exact"] < exhaustive["recall_vs_int8_exact"]  # nprobe took effect
    assert [r["nprobe"] for r in result["sweep"]] == [r["nprobe"] for r in rows if r["depth"] == 100]


def test_the_equal_recall_pick_is_the_cheapest_setting_that_reaches_the_peer() -> None:
    rows = [
        {"nprobe": 1, "depth": 100, "p50": 0.2, "recall_vs_int8_exact": 0.70},
        {"nprobe": 4, "depth": 100, "p50": 0.5, "recall_vs_int8_exact": 0.80},
        {"nprobe": 2, "depth": 200, "p50": 0.4, "recall_vs_int8_exact": 0.81},
        {"nprobe": 8, "depth": 100, "p50": 0.9, "recall_vs_int8_exact": 0.85},
        {"nprobe": 4, "depth": 200, "p50": 0.3, "recall_vs_int8_exact": 0.82},  # a noisy p50: 4 > 2 lists
    ]
    retimed: list[tuple[int | None, int]] = []

    def timed(nprobe: int | None, depth: int) -> tuple[float, float]:
        retimed.append((nprobe, depth))
        return 0.45, 0.81

    peer = {"oversampling": 20.0, "hnsw_ef": 256, "p50": 0.9, "recall_vs_int8_exact": 0.80}
    match = at_recall(peer, rows, timed)
    assert (match["nprobe"], match["depth"], match["sweep_p50"]) == (2, 200, 0.4)
    assert retimed == [(2, 200)] and match["p50"] == 0.45 and match["p50_vs_peer"] == 0.5
    out_of_reach = at_recall({**peer, "recall_vs_int8_exact": 0.9}, rows, timed)
    assert out_of_reach == {
        "peer": {**peer, "recall_vs_int8_exact": 0.9},
        "reached": False,
        "best_swept_recall": 0.85,
    }


def test_the_qdrant_edge_peer_answers_on_the_same_rows() -> None:
    pytest.importorskip("qdrant_edge", reason="the benchmark-only peer: make install adds the bench extra")
    codes, int8_rows, query_bits, query_int8, truth = _inputs(2000)
    result = measure_indexed(codes, int8_rows, query_bits, query_int8, truth)
    assert set(result["peer_qdrant_edge"]) == {"p50", "recall_vs_int8_exact"}
    assert result["peer_qdrant_edge"]["recall_vs_int8_exact"] >= 0.8
    points = result["peer_points"]
    assert [(p["oversampling"], p["hnsw_ef"]) for p in points] == [(10 * f, ef) for f, ef in PEER_POINTS]
    assert {k: points[0][k] for k in ("p50", "recall_vs_int8_exact")} == result["peer_qdrant_edge"]
    for point, match in zip(points, result["indexed_at_peer_recall"], strict=True):
        assert match["peer"] == point
        if match["reached"]:
            assert match["recall_vs_int8_exact"] >= point["recall_vs_int8_exact"]
            assert match["p50_vs_peer"] == match["p50"] / point["p50"]
    table = indexed_table(result)
    assert table.count("| Qdrant core |") == len(points) and table.count("| IVF at that recall |") == len(
        points
    )


def test_flat_codes_reads_back_what_bench_search_added() -> None:
    from search_indexed import flat_codes

    from rag.index import BinaryIndex

    codes = np.random.default_rng(0).integers(0, 256, (300, 16), dtype=np.uint8)
    index = BinaryIndex(128)
    index.add(np.arange(300, dtype=np.int64), codes)
    assert np.array_equal(flat_codes(index), codes)

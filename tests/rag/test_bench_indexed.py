"""bench/search_indexed.py's contract: ``measure_indexed`` returns the issue's keys, recall is measured
against the int8-exact truth it is given (a wrong truth scores zero)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from indexed_data import clustered_blocks, int8_exact_truth  # noqa: E402
from search_indexed import measure_indexed  # noqa: E402

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


def test_the_qdrant_edge_peer_answers_on_the_same_rows() -> None:
    pytest.importorskip("qdrant_edge", reason="the benchmark-only peer: make install adds the bench extra")
    codes, int8_rows, query_bits, query_int8, truth = _inputs(2000)
    result = measure_indexed(codes, int8_rows, query_bits, query_int8, truth)
    assert set(result["peer_qdrant_edge"]) == {"p50", "recall_vs_int8_exact"}
    assert result["peer_qdrant_edge"]["recall_vs_int8_exact"] >= 0.8


def test_flat_codes_reads_back_what_bench_search_added() -> None:
    from search_indexed import flat_codes

    from rag.index import BinaryIndex

    codes = np.random.default_rng(0).integers(0, 256, (300, 16), dtype=np.uint8)
    index = BinaryIndex(128)
    index.add(np.arange(300, dtype=np.int64), codes)
    assert np.array_equal(flat_codes(index), codes)

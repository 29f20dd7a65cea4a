"""The search benchmark runs end to end on a tiny size and reports consistent numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "search.py"


def _load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # the script sets it when unset; keep the env unchanged
    monkeypatch.syspath_prepend(str(BENCH.parent))  # as when run as a script: its sibling modules import
    spec = importlib.util.spec_from_file_location("bench_search", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_on_a_small_size(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load(monkeypatch)
    result = bench.run_size(3000, 256, 12, 12, [4, 300])
    exhaustive = result["ours"]["binary top-3000 + int8 rescore"]
    assert exhaustive["recall_vs_int8_exact"] == 1.0  # every vector rescored: the int8-exact answer
    assert result["float32_flat"]["recall_vs_int8_exact"] > 0.5
    assert result["bytes_per_chunk"]["ours_resident"] < 256 / 8 + 32
    assert "binary top-40 + int8 rescore" in bench.table(result)
    # the scan's contract (issue 14): the floor and the default cascade, measured in the same run
    floor = result["floor"]
    assert floor["bandwidth_gb_s"] > 0 and floor["hamming_floor_ms"] > 0
    assert result["hamming_vs_floor"] == pytest.approx(
        result["hamming_scan"]["p50"] / floor["hamming_floor_ms"]
    )
    paired = result["hamming_vs_floor_paired"]
    assert paired["rounds"] == 12 and 0 < paired["p10"] <= paired["median"] <= paired["p90"]
    cascade = result["default_cascade"]
    assert cascade["p50"] > 0 and cascade["speedup_p50"] > 0 and 0.5 < cascade["recall_vs_int8_exact"] <= 1.0
    assert result["scan_batch"]["batch"] == 8 and result["scan_batch"]["speedup_vs_single"] > 0
    # the default (adaptive) binary+int8 search fetches max(10 x top_k, 200) Hamming candidates
    assert result["hamming_faiss_flat"]["k"] == result["hamming_scan"]["k"] == 200
    assert "x the floor" in bench.scan_table(result)


def test_lexical_section_times_every_stage_through_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load(monkeypatch)
    result = bench.run_lexical(400, 64, 6, 3)
    modes = result["modes"]
    assert modes["binary+int8"]["ratio_p50_vs_binary_int8"] == 1.0
    assert modes["bm25"]["lexical"]["p50"] > 0 and modes["hybrid"]["fusion"]["p50"] > 0
    assert any(name.startswith("hybrid + top word") for name in modes)
    assert "bm25" in bench.lexical_table(result)
    for before in ("binary+int8 [before: pool k x m]", "bm25 [before: fts5]", "hybrid [before: fts5]"):
        assert modes[before]["total"]["p50"] > 0 and modes[before]["ratio_p50_vs_binary_int8"] > 0
    assert modes["hybrid [before: fts5] + top word '" + result["top_word"] + "'"]["lexical"]["p50"] > 0
    assert result["lexical_index_s"] > 0

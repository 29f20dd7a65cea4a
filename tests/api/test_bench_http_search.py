"""The search-only section of ``bench/http_api.py`` runs at a tiny size against a real server."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.api.conftest import free_port

BENCH = Path(__file__).resolve().parents[2] / "bench" / "http_search.py"


def _load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH.parent))  # its sibling module search_lexical imports
    spec = importlib.util.spec_from_file_location("bench_http_search", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_search_only_reports_qps_and_p99_at_each_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load(monkeypatch)
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--search-chunks", "1500", "--search-requests", "3"])
    args.concurrency = [1, 4]
    section = bench.run(args, free_port())
    assert section["chunks"] == 1500 and section["mode"] == "binary+int8"
    assert section["index"] == "flat" and [part["index"] for part in section["other_indexes"]] == ["auto"]
    for part in [section, *section["other_indexes"]]:
        assert [row["concurrency"] for row in part["loads"]] == [1, 4]
        for row in part["loads"]:
            assert row["n"] == 3 * row["concurrency"] and row["qps"] > 0
            assert row["p99_ms"] >= row["p50_ms"] > 0
            assert row["mean_scan_batch"] >= 1.0  # every timed search went through the flat scan
    # grouping off: the same loads beyond one client, each query its own scan
    assert [row["concurrency"] for row in section["grouping_off"]] == [4]
    assert section["grouping_off"][0]["mean_scan_batch"] == 1.0
    assert "grouping_off" not in section["other_indexes"][0]  # only a flat index shares scans
    assert set(section["ratios"]) == {"qps_c4_over_c1", "p99_c4_over_c1", "qps_c4_on_over_off",
                                      "p99_c4_on_over_off", "qps_c4_off_over_c1"}  # fmt: skip
    table = "\n".join(bench.table(section))
    assert "mean scan batch" in table and "index auto" in table and "off" in table
    args.search_chunks = 0
    assert bench.run(args, free_port()) is None

"""The embeddings section of ``bench/http_api.py`` runs at a tiny size against a real server."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from rag.embedding.fake import HashEmbedder
from tests.api.conftest import start_server, stop_server

BENCH = Path(__file__).resolve().parents[2] / "bench" / "http_embeddings.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_http_embeddings", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_format_is_timed_and_compared_with_base64_int8(tmp_path: Path) -> None:
    bench = _load()
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(
        ["--embed-inputs", "4", "--embed-requests", "2", "--embed-concurrency", "1", "2"]
    )
    args.model = "fake:64"
    server = start_server(tmp_path)
    try:
        rows = bench.run(server.url, args)
    finally:
        stop_server(server)
    assert [(row["format"], row["concurrency"], row["n"]) for row in rows] == [
        (name, c, 2 * c) for c in (1, 2) for name in bench.FORMATS
    ]
    sizes = {row["format"]: row["response_bytes"] for row in rows}
    assert sizes["base64_int8"] < sizes["base64"] < sizes["float"]  # d bytes < 4d bytes < JSON numbers
    encoding = bench.encoding_in_process(HashEmbedder(64), 4, repeats=3)
    ratios = bench.ratios(rows, encoding)
    assert ratios["embed_base64_bytes_over_base64_int8"] == pytest.approx(
        sizes["base64"] / sizes["base64_int8"], abs=0.01
    )
    assert {"embed_float_c2_p50_over_base64_int8", "embed_float_encoding_over_request_p50"} <= set(ratios)
    assert "base64_int8" in "\n".join(bench.table({"rows": rows, "encoding_in_process": encoding}))

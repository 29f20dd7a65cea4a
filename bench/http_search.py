"""The ``search_only`` section of ``bench/http_api.py``: /v1/search throughput with the embedding excluded.

A collection of N synthetic chunks at d = 1024 (the clustered vectors and Zipf text of
``bench/search_lexical.py``, inserted with ``Collection.upsert_documents``: no model runs) is served by a
uvicorn process on the ``fake:1024`` embedder. ``QUERIES`` distinct query texts are sent once to fill the
server's query cache, so every timed request is a cache hit: the embedding is excluded, and what is timed
is HTTP + the dense search (``binary+int8``: the coarse stage, int8 rescoring, hydration). The server is
timed only once its background index warming is done (``served.wait_idle``). Closed-loop clients of
``served.lean_load`` (each cycling through the queries) run at each concurrency; the server's
``rag_scan_*_total`` counters give the mean number of queries that shared one Hamming scan.

Each index kind of ``--search-index`` is served in turn from the same collection: ``flat`` (the exact scan
that concurrent searches share) and ``auto`` (the default: IVF past 50k chunks, whose probes are not
shared). With a flat index the loads at more than one client run twice, on servers that differ only in
``RAG_MAX_SCAN_BATCH``: grouping on (the default, 32) and off (1: each search scans alone, in parallel).

Goal (issue 14): QPS at 8 clients >= 3x QPS at 1 client, "at equal or better p99". Read as: grouping must
not cost tail latency, i.e. p99 at 8 (and 32) clients with shared scans <= p99 at as many clients without
them (``p99_c8_on_over_off`` <= 1). p99 at 8 clients equal to one client's is impossible by Little's law:
8 closed-loop clients at 3x one client's QPS wait 8/3 = 2.7x as long on average. ``p99_c8_over_c1`` is
still reported.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import served
from search_lexical import Mixture, Text, batches

from rag.embedding.fake import HashEmbedder
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint
from rag.store import Library

DIMENSIONS = 1024
QUERIES = 64
MODE = "binary+int8"
TOP_K = 10


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--search-chunks", type=int, default=50_000, help="Chunks of the search-only collection (0: skip)."
    )
    parser.add_argument(
        "--search-requests", type=int, default=40, help="Search-only requests per client per concurrency."
    )
    parser.add_argument(
        "--search-index", nargs="+", choices=("flat", "auto"), default=["flat", "auto"],
        help="Index kinds served in turn (the first one's rows are `loads`; default: flat auto).",
    )  # fmt: skip


def build(data: Path, n: int) -> float:
    """An N-chunk collection ``search`` under ``data``; returns the build seconds."""
    rng = np.random.default_rng(0)
    text, mixture = Text(rng), Mixture(n, DIMENSIONS, rng)
    chunker = ChunkerFingerprint("synthetic-zipf", 1, 1, 1)
    fingerprint = CollectionFingerprint(HashEmbedder(DIMENSIONS).fingerprint, chunker)
    started = time.perf_counter()
    library = Library(data)
    try:
        collection = library.create_collection("search", fingerprint=fingerprint)
        for items in batches(n, text, mixture):
            collection.upsert_documents(items)
        collection.save_index()
    finally:
        library.close()
    return time.perf_counter() - started


def _use_index(data: Path, kind: str) -> None:
    library = Library(data)
    try:
        library.open_collection("search").update_settings({"index_type": kind})
    finally:
        library.close()


def _server(data: Path, port: int, max_scan_batch: int | None) -> subprocess.Popen[bytes]:
    settings = {"RAG_DATA_DIR": str(data), "RAG_DOC_MODEL": f"fake:{DIMENSIONS}"}
    settings |= {"RAG_QUERY_MODEL": f"fake:{DIMENSIONS}", "RAG_QUERY_CACHE_SIZE": str(4 * QUERIES)}
    if max_scan_batch is not None:
        settings["RAG_MAX_SCAN_BATCH"] = str(max_scan_batch)
    return served.start(settings, port)


def _requests(clients: int, per_client: int) -> list[list[bytes]]:
    def body(i: int) -> bytes:
        query = f"search-only query number {i % QUERIES}"
        return served.post("/v1/search", {"query": query, "collection": "search", "top_k": TOP_K,
                                          "mode": MODE})  # fmt: skip

    return [[body(7 * c + i) for i in range(per_client)] for c in range(clients)]


def _load(port: int, url: str, clients: int, per_client: int) -> dict[str, Any]:
    """One closed-loop load; its QPS, p50, p99 and the mean number of queries per Hamming scan."""
    before = served.metric_pair(url, "rag_scan_", "batches_total", "queries_total")
    row = asyncio.run(served.lean_load(port, _requests(clients, per_client)))
    after = served.metric_pair(url, "rag_scan_", "batches_total", "queries_total")
    if any(len(answer["hits"]) != TOP_K for answer in row.pop("last")):
        raise RuntimeError("a search-only answer held fewer hits than asked")
    scans = after[0] - before[0]
    mean = (after[1] - before[1]) / scans if scans else 0.0
    return {"concurrency": clients, **row, "mean_scan_batch": round(mean, 2)}


def _serve(data: Path, port: int, max_scan_batch: int | None, loads: list[int], per_client: int) -> Any:
    url = f"http://127.0.0.1:{port}"
    process = _server(data, port, max_scan_batch)
    try:
        served.wait_ready(url, process)
        _load(port, url, 1, QUERIES)  # every query once: into the cache, and the index loads
        served.wait_idle(process)
        return [_load(port, url, clients, per_client) for clients in loads]
    finally:
        process.terminate()
        process.wait(timeout=30)


def _index_section(data: Path, kind: str, args: Any, port: int) -> dict[str, Any]:
    _use_index(data, kind)
    rows = _serve(data, port, None, args.concurrency, args.search_requests)
    section: dict[str, Any] = {"index": kind, "loads": rows}
    several = [c for c in args.concurrency if c > 1]
    if kind == "flat" and several:
        section["grouping_off"] = _serve(data, port, 1, several, args.search_requests)
    section["ratios"] = _ratios(rows, section.get("grouping_off", []))
    return section


def run(args: Any, port: int) -> dict[str, Any] | None:
    """The section: the collection, then per index kind each concurrency's QPS, p50, p99, mean scan batch
    (and, for flat, the same with grouping off)."""
    if args.search_chunks <= 0:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-search-only-") as scratch:
        data = Path(scratch) / "data"
        build_s = build(data, args.search_chunks)
        sections = [_index_section(data, kind, args, port) for kind in args.search_index]
    first = sections[0]
    return {"chunks": args.search_chunks, "d": DIMENSIONS, "mode": MODE, "build_s": round(build_s, 1),
            "embedding": "excluded: fake:1024 embedder, every timed query a cache hit",
            "client": served.LEAN_CLIENT, **first, "other_indexes": sections[1:]}  # fmt: skip


def _ratios(rows: list[dict[str, Any]], off: list[dict[str, Any]]) -> dict[str, float]:
    if not rows:
        return {}
    first = rows[0]
    ratios = {}
    for row in rows[1:]:
        c = row["concurrency"]
        ratios[f"qps_c{c}_over_c{first['concurrency']}"] = round(row["qps"] / first["qps"], 2)
        ratios[f"p99_c{c}_over_c{first['concurrency']}"] = round(row["p99_ms"] / first["p99_ms"], 2)
    by_clients = {row["concurrency"]: row for row in rows}
    for row in off:
        c, on = row["concurrency"], by_clients[row["concurrency"]]
        ratios[f"qps_c{c}_on_over_off"] = round(on["qps"] / row["qps"], 2)
        ratios[f"p99_c{c}_on_over_off"] = round(on["p99_ms"] / row["p99_ms"], 2)
        ratios[f"qps_c{c}_off_over_c{first['concurrency']}"] = round(row["qps"] / first["qps"], 2)
    return ratios


def table(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return []
    lines = [
        "",
        f"search only ({section['chunks']:,} chunks x {section['d']} bits, {section['mode']}, "
        f"{section['embedding']}; build {section['build_s']} s; client {section['client']})",
    ]
    for part in [section, *section["other_indexes"]]:
        lines += [f"  index {part['index']}", "  grouping   c       QPS    p50 ms    p99 ms  mean scan batch"]
        rows = [("on", row) for row in part["loads"]] + [("off", row) for row in part.get("grouping_off", [])]
        for grouping, row in rows:
            lines.append(
                f"  {grouping:<8}{row['concurrency']:>4}{row['qps']:>10}{row['p50_ms']:>10}"
                f"{row['p99_ms']:>10}{row['mean_scan_batch']:>17}"
            )
        lines += [f"    {key}: {value}" for key, value in part["ratios"].items()]
    return lines

"""The ``search_only`` section of ``bench/http_api.py``: /v1/search throughput with the embedding excluded.

A collection of N synthetic chunks at d = 1024 (the clustered vectors and Zipf text of
``bench/search_lexical.py``, inserted with ``Collection.upsert_documents``: no model runs) is served by a
uvicorn process on the ``fake:1024`` embedder. ``QUERIES`` distinct query texts are sent once to fill the
server's query cache, so every timed request is a cache hit: the embedding is excluded, and what is timed
is HTTP + the dense search (``binary+int8``: the Hamming scan, int8 rescoring, hydration). Closed-loop
clients (each cycling through the queries) run at each concurrency; the server's ``rag_scan_*_total``
counters give the mean number of queries that shared one Hamming scan.

Goal (issue 14): QPS at 8 clients >= 3x QPS at 1 client, at equal or better p99.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import served
from search_lexical import Mixture, Text, batches

from rag.embedding.fake import HashEmbedder
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint
from rag.store import Library

DIMENSIONS = 1024
QUERIES = 64
MODE = "binary+int8"


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--search-chunks", type=int, default=50_000, help="Chunks of the search-only collection (0: skip)."
    )
    parser.add_argument(
        "--search-requests", type=int, default=40, help="Search-only requests per client per concurrency."
    )


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


def _server(data: Path, port: int) -> subprocess.Popen[bytes]:
    settings = {"RAG_DATA_DIR": str(data), "RAG_DOC_MODEL": f"fake:{DIMENSIONS}"}
    settings |= {"RAG_QUERY_MODEL": f"fake:{DIMENSIONS}", "RAG_QUERY_CACHE_SIZE": str(4 * QUERIES)}
    return served.start(settings, port)


def _scans(url: str) -> tuple[float, float]:
    return served.metric_pair(url, "rag_scan_", "batches_total", "queries_total")


def _body(i: int) -> dict[str, Any]:
    return {"query": f"search-only query number {i % QUERIES}", "collection": "search", "top_k": 10,
            "mode": MODE}  # fmt: skip


async def _load(url: str, clients: int, per_client: int) -> dict[str, Any]:
    latencies: list[float] = []

    async def client(first: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120.0) as http:
            for i in range(per_client):
                started = time.perf_counter()
                (await http.post("/v1/search", json=_body(first + i))).raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000.0)

    started = time.perf_counter()
    await asyncio.gather(*(client(7 * c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"qps": round(len(ordered) / elapsed, 1), "p50_ms": round(statistics.median(ordered), 3),
            "p99_ms": round(p99, 3), "n": len(ordered)}  # fmt: skip


def run(args: Any, port: int) -> dict[str, Any] | None:
    """The section: the collection, then each concurrency's QPS, p50, p99 and mean scan batch."""
    if args.search_chunks <= 0:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-search-only-") as scratch:
        data = Path(scratch) / "data"
        build_s = build(data, args.search_chunks)
        url = f"http://127.0.0.1:{port}"
        process = _server(data, port)
        rows = []
        try:
            served.wait_ready(url, process)
            asyncio.run(_load(url, 1, QUERIES))  # every query once: into the cache, and the index loads
            for clients in args.concurrency:
                before = _scans(url)
                row = asyncio.run(_load(url, clients, args.search_requests))
                after = _scans(url)
                batches_run = after[0] - before[0]
                mean = (after[1] - before[1]) / batches_run if batches_run else 0.0
                rows.append({"concurrency": clients, **row, "mean_scan_batch": round(mean, 2)})
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {"chunks": args.search_chunks, "d": DIMENSIONS, "mode": MODE, "build_s": round(build_s, 1),
            "embedding": "excluded: fake:1024 embedder, every timed query a cache hit", "loads": rows,
            "ratios": _ratios(rows)}  # fmt: skip


def _ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    if not rows:
        return {}
    first = rows[0]
    ratios = {}
    for row in rows[1:]:
        c = row["concurrency"]
        ratios[f"qps_c{c}_over_c{first['concurrency']}"] = round(row["qps"] / first["qps"], 2)
        ratios[f"p99_c{c}_over_c{first['concurrency']}"] = round(row["p99_ms"] / first["p99_ms"], 2)
    return ratios


def table(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return []
    lines = [
        "",
        f"search only ({section['chunks']:,} chunks x {section['d']} bits, {section['mode']}, "
        f"{section['embedding']}; build {section['build_s']} s)",
        "  c       QPS    p50 ms    p99 ms  mean scan batch",
    ]
    for row in section["loads"]:
        lines.append(
            f"{row['concurrency']:>3}{row['qps']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}"
            f"{row['mean_scan_batch']:>17}"
        )
    return lines + [f"  {key}: {value}" for key, value in section["ratios"].items()]

"""API benchmark: /v1/search under a bounded loopback load, beside in-process search on the same data.

The sample corpus (``samples/corpus``, or a synthetic one if missing) is ingested with the offline MiniLM;
a uvicorn server (a second process) serves it; an asyncio/httpx client runs closed-loop load at each
concurrency with a fixed number of requests per client. Three variants:

- ``full``: every query is new (cache misses), so each request pays the query embedding, batched by the
  server's dynamic batcher with whatever else is waiting;
- ``cached``: one repeated query (cache hits), so the request pays HTTP + search only;
- ``healthz``: ``GET /healthz``, the floor of this HTTP stack (client, uvicorn, FastAPI) on this box;
- ``context``: the cached query through ``POST /v1/context`` at the same ``top_k`` (neighbours 1, 2000
  cl100k tokens), so ``context/cached`` is the cost of widening and packing the hits into a prompt.

Ratios printed beside the numbers: API p50 at c=1 over the in-process p50 of the same work (the HTTP
layer's cost), p99/p50 (tail), QPS(c)/QPS(1) (scaling), and the mean batch the model saw. Then
``/v1/embeddings`` in each ``encoding_format`` (``base64_int8``, OpenAI's ``float`` and ``base64``), as
same-run ratios to ``base64_int8`` (``bench/http_embeddings.py``). Then ``search_only``
(``bench/http_search.py``): search QPS and p99 at each concurrency with the embedding excluded (a
``fake:1024`` server whose timed queries are all cache hits) on a larger synthetic collection, and the mean
number of queries that shared one Hamming scan.

    python bench/http_api.py                         # MiniLM, c = 1, 8, 32
    python bench/http_api.py --requests 20 --json    # requests per client; one JSON object on stdout
    python bench/http_api.py --concurrency 1 --requests 4 --embed-requests 4   # a tiny run
    python bench/http_api.py --bulk --concurrency 8  # also: full at c=8 while bulk embedding requests run
    python bench/http_api.py --only-search --search-chunks 20000   # only the search-only section

``--bulk`` adds ``full+bulk``: the ``full`` load while one client keeps posting large
``/v1/contextualizedembeddings`` requests, and ``full+job``: the same while one client keeps an upload job
(12 documents) running; the ratios of their p99 and p50 to the quiet ``full`` ones in the same run (a
search must not queue behind bulk work; goal <= 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Spinning OpenMP threads wreck latency on a small shared box (PERFORMANCE.md, pitfall 3); the server
# gets the same policy. It must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import http_embeddings
import http_search
import httpx
import served

from ingest.encoding import token_counter
from ingest.loaders import SourceDocument
from ingest.pipeline import IngestOptions, Ingestor
from rag.context import retrieve_context
from rag.embedding.factory import ModelOptions, load_embedder
from rag.search import Searcher
from rag.store import Library
from rag.types import Embeddings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "corpus"
QUESTIONS = [
    "how many vacation days do employees get",
    "how do I rotate an API key",
    "what is the on-call rotation",
    "which expenses are reimbursed",
    "how do I request access to production",
    "what does the glossary say about embeddings",
    "who approves a pull request",
    "where are the onboarding documents",
]
CONTEXT: dict[str, Any] = {"top_k": 10, "max_tokens": 2000, "neighbors": 1}


def main() -> None:
    args = _arguments()
    report: dict[str, Any] = {"calibration": _calibration(args)}
    if args.only_search:
        report["search_only"] = http_search.run(args, _free_port())
        report["calibration"]["load_after"] = os.getloadavg()
        print(
            json.dumps(report, indent=2) if args.json else "\n".join(http_search.table(report["search_only"]))
        )
        return
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        data = Path(scratch) / "data"
        baseline = _InProcess(args, data)
        before = baseline.timings()
        report["api"], embedding_rows = _under_load(args, data)
        after = baseline.timings()
        encoding = http_embeddings.encoding_in_process(baseline.embedder, args.embed_inputs)
        report["embeddings"] = {
            "rows": embedding_rows,
            "encoding_in_process": encoding,
        }  # again, to show how far the machine drifted meanwhile
        baseline.library.close()
    report["in_process"] = {**baseline.described, "before_load": before, "after_load": after}
    report["search_only"] = http_search.run(args, _free_port())
    report["calibration"]["load_after"] = os.getloadavg()
    report["ratios"] = _ratios(report) | http_embeddings.ratios(embedding_rows, encoding)
    print(json.dumps(report, indent=2) if args.json else _table(report))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="all-minilm-l6-v2", help="Model spec (default: the offline MiniLM)."
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=16, help="Requests per client at each concurrency.")
    parser.add_argument(
        "--baseline-queries", type=int, default=60, help="Queries for the in-process baseline."
    )
    http_embeddings.add_arguments(parser)
    http_search.add_arguments(parser)
    parser.add_argument("--only-search", action="store_true", help="Only the search-only section.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    parser.add_argument("--bulk", action="store_true", help="Also measure full while bulk work runs.")
    return parser.parse_args()


def _free_port() -> int:
    from socket import socket

    with socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _calibration(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
        "model": args.model,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "concurrency": args.concurrency,
        "requests_per_client": args.requests,
    }


def _documents() -> list[SourceDocument]:
    if SAMPLE.is_dir() and any(SAMPLE.iterdir()):
        from ingest.loaders import load_paths

        return load_paths([SAMPLE]).documents
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
    return [
        SourceDocument(id=f"synthetic-{i}", text=" ".join(words[(i + j) % len(words)] for j in range(300)))
        for i in range(200)
    ]


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3), "n": len(ordered)}


def _timed_ms(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000.0


class _InProcess:
    """The corpus ingested into ``data``, and the same search the server runs, timed without HTTP."""

    def __init__(self, args: argparse.Namespace, data: Path) -> None:
        self.embedder = load_embedder(ModelOptions(doc_model=args.model, query_model=args.model))
        self.library = Library(data)
        summary = Ingestor(self.library, self.embedder, IngestOptions()).ingest(
            _documents(), collection="default"
        )
        self.collection = self.library.open_collection("default")
        self.searcher = Searcher(self.collection, self.embedder)
        self.queries = [f"{QUESTIONS[i % len(QUESTIONS)]} ({i})" for i in range(args.baseline_queries)]
        self.embedder.embed_queries(self.queries[:2])  # warm-up
        info = self.collection.info()
        self.described = {
            "documents": info.documents,
            "chunks": info.chunks,
            "ingest_s": round(summary.seconds, 2),
        }

    def timings(self) -> dict[str, Any]:
        embedder, searcher = self.embedder, self.searcher
        embedded = [embedder.embed_queries([q], with_floats=True) for q in self.queries]
        embed_ms = [_timed_ms(lambda q=q: embedder.embed_queries([q])) for q in self.queries]  # type: ignore[misc]
        search_ms = [
            _timed_ms(lambda q=q, e=e: searcher.search_embedded(q, e))  # type: ignore[misc]
            for q, e in zip(self.queries, embedded, strict=True)
        ]
        count = token_counter("cl100k_base")

        def context(query: str, embedding: Embeddings) -> Callable[[], object]:
            return lambda: retrieve_context(
                searcher, query, query_embedding=embedding, count_tokens=count, **CONTEXT
            )

        context_ms = [_timed_ms(context(q, e)) for q, e in zip(self.queries, embedded, strict=True)]
        return {
            "query_embedding": _percentiles(embed_ms),
            "search_embedded": _percentiles(search_ms),
            "context_embedded": _percentiles(context_ms),
        }


def _start_server(args: argparse.Namespace, data: Path, port: int) -> subprocess.Popen[bytes]:
    return served.start(
        {"RAG_DATA_DIR": str(data), "RAG_DOC_MODEL": args.model, "RAG_QUERY_MODEL": args.model}, port
    )


def _batch_stats(url: str) -> tuple[float, float]:
    """(sum, count) of the batcher's batch-size histogram."""
    return served.metric_pair(url, "rag_query_embed_batch_size_", "sum", "count")


async def _client(url: str, path: str, bodies: list[dict[str, Any] | None], latencies: list[float]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        for body in bodies:
            started = time.perf_counter()
            if body is None:
                response = await client.get("/healthz")
            else:
                response = await client.post(path, json=body)
            latencies.append((time.perf_counter() - started) * 1000.0)
            response.raise_for_status()


async def _load(url: str, variant: str, concurrency: int, per_client: int, offset: int) -> dict[str, Any]:
    latencies: list[float] = []

    def bodies(client: int) -> list[dict[str, Any] | None]:
        if variant == "healthz":
            return [None] * per_client
        if variant == "cached":
            return [{"query": QUESTIONS[0], "top_k": 10}] * per_client
        if variant == "context":
            return [{"query": QUESTIONS[0], **CONTEXT}] * per_client
        new = [
            f"{QUESTIONS[(client + i) % len(QUESTIONS)]} [{offset}-{client}-{i}]" for i in range(per_client)
        ]
        return [{"query": query, "top_k": 10} for query in new]

    started = time.perf_counter()
    path = "/v1/context" if variant == "context" else "/v1/search"
    await asyncio.gather(*(_client(url, path, bodies(c), latencies) for c in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"qps": round(len(latencies) / elapsed, 1), **_percentiles(latencies)}


def _under_load(args: argparse.Namespace, data: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from socket import socket

    with socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    process = _start_server(args, data, port)
    rows: list[dict[str, Any]] = []
    try:
        served.wait_ready(url, process)
        asyncio.run(_load(url, "cached", 1, 3, 0))  # warm-up, and the cached query enters the cache
        # Variants interleaved at each concurrency, so a drift of the (shared) machine hits them alike.
        for offset, concurrency in enumerate(args.concurrency):
            for variant in ("healthz", "cached", "context", "full"):
                before = _batch_stats(url)
                row = asyncio.run(_load(url, variant, concurrency, args.requests, offset))
                after = _batch_stats(url)
                calls = after[1] - before[1]
                mean_batch = (after[0] - before[0]) / calls if calls else 0.0
                rows.append({"variant": variant, "concurrency": concurrency, **row,
                             "model_calls": int(calls), "mean_batch": round(mean_batch, 2)})  # fmt: skip
        if args.bulk:
            concurrency = max(args.concurrency)
            row = asyncio.run(_with_bulk(_load(url, "full", concurrency, args.requests, 999), url))
            rows.append({"variant": "full+bulk", "concurrency": concurrency, **row,
                         "model_calls": 0, "mean_batch": 0.0})  # fmt: skip
            row = asyncio.run(_with_jobs(_load(url, "full", concurrency, args.requests, 998), url))
            rows.append({"variant": "full+job", "concurrency": concurrency, **row,
                         "model_calls": 0, "mean_batch": 0.0})  # fmt: skip
        embedding_rows = http_embeddings.run(url, args)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return rows, embedding_rows


async def _with_bulk(load: Any, url: str) -> dict[str, Any]:
    """Run ``load`` while one client posts 64-chunk contextualized embedding requests back to back."""
    chunks = [f"{QUESTIONS[i % len(QUESTIONS)]} and a longer passage of text to embed, part {i}." * 4
              for i in range(64)]  # fmt: skip
    body = {"input": [chunks[i : i + 16] for i in range(0, 64, 16)], "model": "all-minilm-l6-v2"}
    stop = asyncio.Event()

    async def bulk() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            while not stop.is_set():
                (await client.post("/v1/contextualizedembeddings", json=body)).raise_for_status()

    return await _while(bulk(), stop, load)


JOBS_URL = "/v1/collections/bulk-jobs/documents"


async def _with_jobs(load: Any, url: str) -> dict[str, Any]:
    """Run ``load`` while one client keeps an upload job running: 12 documents of ~600 tokens each (over
    the background threshold, so each post is a job), polled until done, then posted again (re-embedded:
    each round's texts differ)."""
    stop = asyncio.Event()

    async def jobs() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            await client.post("/v1/collections", json={"name": "bulk-jobs"})
            round_ = 0
            while not stop.is_set():
                text = " ".join(f"{QUESTIONS[i % len(QUESTIONS)]} (round {round_})" for i in range(40))
                documents = [{"id": f"job-{i}", "text": f"{text} {i}"} for i in range(12)]
                posted = await client.post(JOBS_URL, json={"documents": documents})
                posted.raise_for_status()
                while (await client.get(posted.json()["url"])).json()["status"] in ("queued", "running"):
                    await asyncio.sleep(0.1)
                round_ += 1

    return await _while(jobs(), stop, load)


async def _while(background: Any, stop: asyncio.Event, load: Any) -> dict[str, Any]:
    """Run ``load`` while ``background`` (a coroutine looping until ``stop``) keeps the model busy."""
    task = asyncio.create_task(background)
    await asyncio.sleep(0.5)  # the first bulk request or job is on the model
    try:
        result: dict[str, Any] = await load
    finally:
        stop.set()
        await task
    return result


def _ratios(report: dict[str, Any]) -> dict[str, Any]:
    base = report["in_process"]
    runs = (base["before_load"], base["after_load"])
    embed = statistics.mean(run["query_embedding"]["p50_ms"] for run in runs)
    search = statistics.mean(run["search_embedded"]["p50_ms"] for run in runs)
    rows = {(r["variant"], r["concurrency"]): r for r in report["api"]}
    ratios: dict[str, Any] = {}
    first = min(c for _, c in rows)
    if ("full", first) in rows:
        ratios["full_c1_p50_over_in_process_embed_plus_search"] = round(
            rows["full", first]["p50_ms"] / (embed + search), 2
        )
    if ("cached", first) in rows:
        cached = rows["cached", first]["p50_ms"]
        ratios["cached_c1_p50_over_in_process_search"] = round(cached / search, 2) if search else None
        ratios["cached_c1_http_overhead_ms"] = round(cached - search, 3)
    if ("cached", first) in rows and ("context", first) in rows:
        ratios["context_c1_p50_over_cached_search_c1_p50"] = round(
            rows["context", first]["p50_ms"] / rows["cached", first]["p50_ms"], 2
        )
        packing = statistics.mean(run["context_embedded"]["p50_ms"] for run in runs)
        ratios["in_process_context_p50_over_search_p50"] = round(packing / search, 2) if search else None
    if ("cached", first) in rows and ("healthz", first) in rows:
        floor = rows["healthz", first]["p50_ms"]
        ratios["cached_c1_p50_over_healthz_p50"] = round(rows["cached", first]["p50_ms"] / floor, 2)
        ratios["cached_c1_minus_healthz_minus_search_ms"] = round(
            rows["cached", first]["p50_ms"] - floor - search, 3
        )
    for (variant, concurrency), row in rows.items():
        if variant in ("full+bulk", "full+job") and ("full", concurrency) in rows:
            quiet, kind = rows["full", concurrency], variant.removeprefix("full+")
            ratios[f"full_c{concurrency}_p99_with_{kind}_over_quiet"] = round(
                row["p99_ms"] / quiet["p99_ms"], 2
            )
            ratios[f"full_c{concurrency}_p50_with_{kind}_over_quiet"] = round(
                row["p50_ms"] / quiet["p50_ms"], 2
            )
            continue
        ratios[f"{variant}_c{concurrency}_p99_over_p50"] = round(row["p99_ms"] / row["p50_ms"], 2)
        ratios[f"{variant}_c{concurrency}_qps_over_c{first}"] = round(
            row["qps"] / rows[variant, first]["qps"], 2
        )
    return ratios


def _table(report: dict[str, Any]) -> str:
    base = report["in_process"]
    lines = [
        f"calibration: {json.dumps(report['calibration'])}",
        f"collection: {base['documents']} documents, {base['chunks']} chunks (ingest {base['ingest_s']} s)",
    ]
    for when in ("before_load", "after_load"):
        embed, search = base[when]["query_embedding"], base[when]["search_embedded"]
        lines.append(
            f"in-process ({when.replace('_', ' ')}): query embedding p50 {embed['p50_ms']} ms "
            f"(p99 {embed['p99_ms']}), search_embedded p50 {search['p50_ms']} ms (p99 {search['p99_ms']}), "
            f"context p50 {base[when]['context_embedded']['p50_ms']} ms"
        )
    lines += [
        "",
        "variant    c  requests      QPS    p50 ms    p99 ms  model calls  mean batch",
    ]
    for row in report["api"]:
        lines.append(
            f"{row['variant']:<8}{row['concurrency']:>3}{row['n']:>10}{row['qps']:>9}{row['p50_ms']:>10}"
            f"{row['p99_ms']:>10}{row['model_calls']:>13}{row['mean_batch']:>12}"
        )
    lines += http_embeddings.table(report["embeddings"])
    lines += http_search.table(report["search_only"])
    lines += ["", "ratios:"] + [f"  {key}: {value}" for key, value in report["ratios"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

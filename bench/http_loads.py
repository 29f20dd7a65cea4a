"""The HTTP loads of ``bench/http_api.py`` against a server of the ingested corpus: the ``healthz``,
``cached``, ``context`` and ``full`` variants at each concurrency (httpx clients, closed loop), the
``full`` load beside bulk embedding requests or an upload job (``--bulk``), and the embeddings section."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import http_embeddings
import httpx
import served
from http_baseline import CONTEXT, QUESTIONS


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


async def load(url: str, variant: str, concurrency: int, per_client: int, offset: int) -> dict[str, Any]:
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
    return {"qps": round(len(latencies) / elapsed, 1), **served.percentiles(latencies)}


def under_load(args: argparse.Namespace, data: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    port = served.free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start_server(args, data, port)
    rows: list[dict[str, Any]] = []
    try:
        served.wait_ready(url, process)
        asyncio.run(load(url, "cached", 1, 3, 0))  # warm-up, and the cached query enters the cache
        # Variants interleaved at each concurrency, so a drift of the (shared) machine hits them alike.
        for offset, concurrency in enumerate(args.concurrency):
            for variant in ("healthz", "cached", "context", "full"):
                before = _batch_stats(url)
                row = asyncio.run(load(url, variant, concurrency, args.requests, offset))
                after = _batch_stats(url)
                calls = after[1] - before[1]
                mean_batch = (after[0] - before[0]) / calls if calls else 0.0
                rows.append({"variant": variant, "concurrency": concurrency, **row,
                             "model_calls": int(calls), "mean_batch": round(mean_batch, 2)})  # fmt: skip
        if args.bulk:
            concurrency = max(args.concurrency)
            row = asyncio.run(_with_bulk(load(url, "full", concurrency, args.requests, 999), url))
            rows.append({"variant": "full+bulk", "concurrency": concurrency, **row,
                         "model_calls": 0, "mean_batch": 0.0})  # fmt: skip
            row = asyncio.run(_with_jobs(load(url, "full", concurrency, args.requests, 998), url))
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

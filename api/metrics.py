"""Prometheus metrics on a registry of the app's own (two apps in one process never share counters).

- ``rag_http_requests_total`` and ``rag_http_request_duration_seconds``: per method, route template
  (never the raw path, so ids do not explode the label set) and status;
- ``rag_search_stage_seconds``: per search stage (embed, hamming, rescore, lexical, fusion, hydrate, total);
- ``rag_query_embed_batch_size`` and ``rag_query_cache_total``: the query batcher at work;
- ``rag_scan_batches_total`` / ``rag_scan_queries_total``: concurrent searches sharing one Hamming scan;
- ``rag_collection_documents`` / ``rag_collection_chunks``: read from the store at scrape time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.embedding.base import ApiUsage
from rag.scan_batcher import ScanStats
from rag.types import CollectionInfo

UNMATCHED_ROUTE = "<unmatched>"
_CONVERTER = re.compile(r":[a-z]+}")  # "{doc_id:path}" -> "{doc_id}"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class _CollectionCollector(Collector):
    """Documents and chunks per collection, asked of the store when Prometheus scrapes."""

    def __init__(self, source: Callable[[], list[CollectionInfo]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        documents = GaugeMetricFamily(
            "rag_collection_documents", "Documents stored per collection.", labels=["collection"]
        )
        chunks = GaugeMetricFamily(
            "rag_collection_chunks", "Chunks stored per collection.", labels=["collection"]
        )
        for info in self.source():
            documents.add_metric([info.name], info.documents)
            chunks.add_metric([info.name], info.chunks)
        yield documents
        yield chunks


class _ApiUsageCollector(Collector):
    """What the embedder has used of the hosted API (zero for local backends), read at scrape time."""

    def __init__(self, source: Callable[[], ApiUsage]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        usage = self.source()
        for name, text, value in (
            ("rag_embedding_api_requests", "Hosted embedding API requests.", usage.requests),
            ("rag_embedding_api_tokens", "Tokens billed by the hosted embedding API.", usage.tokens),
            (
                "rag_embedding_api_cost_usd",
                "Cost reported by the hosted embedding API, in USD.",
                usage.cost_usd,
            ),
        ):
            family = CounterMetricFamily(name, text)
            family.add_metric([], value)
            yield family


class _ScanCollector(Collector):
    """The flat index's batched Hamming scans (one scan answers every query waiting), at scrape time."""

    def __init__(self, source: Callable[[], ScanStats]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        stats = self.source()
        for name, text, value in (
            ("rag_scan_batches", "Hamming scans run (each answers one or more queries).", stats.batches),
            ("rag_scan_queries", "Queries answered by Hamming scans.", stats.queries),
        ):
            family = CounterMetricFamily(name, text)
            family.add_metric([], value)
            yield family


class Metrics:
    """Every metric of one app, on its own ``CollectorRegistry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "rag_http_requests_total", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "rag_http_request_duration_seconds",
            "Time from request to the end of the response.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.search_stages = Histogram(
            "rag_search_stage_seconds",
            "Time spent per search stage.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.embed_batch_size = Histogram(
            "rag_query_embed_batch_size",
            "Queries embedded per model call by the batcher.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.query_cache = Counter(
            "rag_query_cache_total", "Query embedding cache lookups.", ["result"], registry=self.registry
        )

    def watch_collections(self, source: Callable[[], list[CollectionInfo]]) -> None:
        """Report documents and chunks per collection, as ``source`` lists them at scrape time."""
        self.registry.register(_CollectionCollector(source))

    def watch_api_usage(self, source: Callable[[], ApiUsage]) -> None:
        """Report the hosted API's requests, tokens and cost, as ``source`` gives them at scrape time."""
        self.registry.register(_ApiUsageCollector(source))

    def watch_scans(self, source: Callable[[], ScanStats]) -> None:
        """Report batched scans (``rag_scan_queries_total / rag_scan_batches_total``: the mean batch)."""
        self.registry.register(_ScanCollector(source))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def observe_search(self, timings_ms: Mapping[str, float]) -> None:
        for stage, milliseconds in timings_ms.items():
            self.search_stages.labels(stage).observe(milliseconds / 1000.0)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/jobs/{job_id}``), or a fixed label for no match."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return _CONVERTER.sub("}", path) if isinstance(path, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(scope["method"], route_template(scope), status, elapsed)

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
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

# Spinning OpenMP threads wreck latency on a small shared box (PERFORMANCE.md, pitfall 3); the server
# gets the same policy. It must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import http_baseline
import http_embeddings
import http_loads
import http_search
import served


def main() -> None:
    args = _arguments()
    report: dict[str, Any] = {"calibration": _calibration(args)}
    if args.only_search:
        report["search_only"] = http_search.run(args, served.free_port())
        report["calibration"]["load_after"] = os.getloadavg()
        print(
            json.dumps(report, indent=2) if args.json else "\n".join(http_search.table(report["search_only"]))
        )
        return
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        data = Path(scratch) / "data"
        baseline = http_baseline.InProcess(args, data)
        before = baseline.timings()
        report["api"], embedding_rows = http_loads.under_load(args, data)
        after = baseline.timings()
        encoding = http_embeddings.encoding_in_process(baseline.embedder, args.embed_inputs)
        report["embeddings"] = {
            "rows": embedding_rows,
            "encoding_in_process": encoding,
        }  # again, to show how far the machine drifted meanwhile
        baseline.library.close()
    report["in_process"] = {**baseline.described, "before_load": before, "after_load": after}
    report["search_only"] = http_search.run(args, served.free_port())
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

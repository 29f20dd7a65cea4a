"""The embeddings section of ``bench/http_api.py``: what each ``encoding_format`` of ``/v1/embeddings`` costs.

The same request (``--embed-inputs`` texts through the served query model) is sent in each format, the
formats interleaved request by request so a drift of the shared machine hits them alike: ``base64_int8``
(the hosted pplx default: d bytes per vector), OpenAI's ``float`` (JSON numbers) and ``base64``
(little-endian float32: 4d bytes). Reported: p50, p99 and the response size per format, their ratios
to ``base64_int8``, and the in-process cost of the encoding step alone (the response object built and
serialized to JSON from the same embeddings, with no model and no HTTP), against a whole request's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx

from api.openai_wire import float_rows, openai_embeddings_response, unit_floats
from api.wire import embeddings_response, encode_rows
from rag.embedding.base import Embedder

FORMATS = ("base64_int8", "float", "base64")
BASELINE = "base64_int8"
TEXTS = [
    "how many vacation days do employees get",
    "The on-call engineer answers pages within fifteen minutes and hands over every Monday.",
    "which expenses are reimbursed without a receipt",
    "Production access is requested through the access portal and approved by a team lead.",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embed-inputs", type=int, default=16, help="Texts per /v1/embeddings request.")
    parser.add_argument("--embed-requests", type=int, default=8, help="Requests per format per client.")
    parser.add_argument("--embed-concurrency", type=int, nargs="+", default=[1])


def run(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One warm-up request per format, then the load at each ``--embed-concurrency``."""
    asyncio.run(load(url, args.model, concurrency=1, per_client=1, inputs=args.embed_inputs))
    rows: list[dict[str, Any]] = []
    for concurrency in args.embed_concurrency:
        loaded = load(
            url, args.model, concurrency=concurrency, per_client=args.embed_requests, inputs=args.embed_inputs
        )
        rows += asyncio.run(loaded)
    return rows


def request_texts(inputs: int) -> list[str]:
    return [f"{TEXTS[i % len(TEXTS)]} ({i})" for i in range(inputs)]


def _p50_p99(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3), "n": len(ordered)}


async def _client(
    url: str, bodies: list[dict[str, Any]], seen: dict[str, list[float]], sizes: dict[str, int]
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        for body in bodies:
            started = time.perf_counter()
            response = await client.post("/v1/embeddings", json=body)
            seen[body["encoding_format"]].append((time.perf_counter() - started) * 1000.0)
            response.raise_for_status()
            sizes[body["encoding_format"]] = len(response.content)


async def load(
    url: str, model: str, *, concurrency: int, per_client: int, inputs: int
) -> list[dict[str, Any]]:
    """``per_client`` requests of each format per client, the formats in turn (each client starting at
    another); one row per format. No QPS per format: they share the run."""
    texts = request_texts(inputs)
    bodies = [
        {"input": texts, "model": model, "encoding_format": f} for _ in range(per_client) for f in FORMATS
    ]
    seen: dict[str, list[float]] = {f: [] for f in FORMATS}
    sizes: dict[str, int] = {}
    turns = [bodies[c % len(FORMATS) :] + bodies[: c % len(FORMATS)] for c in range(concurrency)]
    await asyncio.gather(*(_client(url, turn, seen, sizes) for turn in turns))
    return [
        {
            "format": f,
            "concurrency": concurrency,
            "inputs": inputs,
            **_p50_p99(seen[f]),
            "response_bytes": sizes[f],
        }
        for f in FORMATS
    ]


def _timed_ms(work: Any, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000.0)
    return round(statistics.median(samples), 3)


def encoding_in_process(embedder: Embedder, inputs: int, repeats: int = 20) -> dict[str, float]:
    """p50 ms of the model call, and of each format's encoding step (build the response, dump its JSON)."""
    texts = request_texts(inputs)
    embeddings = embedder.embed_queries(texts, with_floats=True)
    width = embedder.dimensions

    def pplx() -> bytes:
        return (
            embeddings_response(encode_rows(embeddings, width, "base64_int8"), "m", 1)
            .model_dump_json()
            .encode()
        )

    def openai(encoding: Any) -> bytes:
        rows = float_rows(unit_floats(embeddings, width), encoding)
        return openai_embeddings_response(rows, "m", 1).model_dump_json().encode()

    return {
        "model_ms": _timed_ms(lambda: embedder.embed_queries(texts), max(3, repeats // 4)),
        "base64_int8_ms": _timed_ms(pplx, repeats),
        "float_ms": _timed_ms(lambda: openai("float"), repeats),
        "base64_ms": _timed_ms(lambda: openai("base64"), repeats),
    }


def ratios(rows: list[dict[str, Any]], encoding: dict[str, float]) -> dict[str, float]:
    by_format = {(row["format"], row["concurrency"]): row for row in rows}
    found: dict[str, float] = {}
    for (name, concurrency), row in by_format.items():
        base = by_format[BASELINE, concurrency]
        if name != BASELINE:
            found[f"embed_{name}_c{concurrency}_p50_over_{BASELINE}"] = round(
                row["p50_ms"] / base["p50_ms"], 2
            )
            found[f"embed_{name}_bytes_over_{BASELINE}"] = round(
                row["response_bytes"] / base["response_bytes"], 2
            )
    # The encoding step alone over a whole request (model, HTTP and all) at the first concurrency.
    request_ms = next(row["p50_ms"] for row in rows if row["format"] == BASELINE)
    for name in FORMATS:
        found[f"embed_{name}_encoding_over_request_p50"] = round(encoding[f"{name}_ms"] / request_ms, 4)
    return found


def table(section: dict[str, Any]) -> list[str]:
    encoding = section["encoding_in_process"]
    lines = [
        "",
        f"/v1/embeddings, {section['rows'][0]['inputs']} inputs per request:",
        "format          c  requests    p50 ms    p99 ms  response bytes",
    ]
    for row in section["rows"]:
        lines.append(
            f"{row['format']:<13}{row['concurrency']:>3}{row['n']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}"
            f"{row['response_bytes']:>16}"
        )
    lines.append(
        f"in process: model {encoding['model_ms']} ms; encoding + JSON: "
        + ", ".join(f"{name} {encoding[f'{name}_ms']} ms" for name in FORMATS)
    )
    return lines

"""Vectors for bench/search_indexed.py: real MiniLM embeddings of SciFact (cached), a synthetic extension past
them, their codes (sign bits, int8 rows in a memmap) and the int8-exact truth."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.quantization import calibrate_scale, scaled_int8, sign_bits

SCIFACT = Path("/work/shared/data/scifact")
BLOCK = 50_000


def embed_scifact(cache: Path, limit: int) -> None:
    """MiniLM (offline) embeddings of SciFact chunks (50-word windows, stride 40, shuffled) and queries."""
    from rag.embedding.factory import ModelOptions, load_embedder

    cache.mkdir(parents=True, exist_ok=True)
    embedder = load_embedder(ModelOptions(doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2"))
    texts: list[str] = []
    for line in open(SCIFACT / "corpus.jsonl"):
        doc = json.loads(line)
        words = (doc.get("title", "") + " " + doc["text"]).split()
        texts.extend(" ".join(words[s : s + 50]) for s in range(0, len(words), 40))
    texts = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))][:limit]
    queries = [json.loads(line)["text"] for line in open(SCIFACT / "queries.jsonl")]
    floats = embedder.embed_queries(queries, with_floats=True).floats
    np.save(cache / "queries.npy", np.asarray(floats, np.float32))
    for part, start in enumerate(range(0, len(texts), 2048)):
        floats = embedder.embed_queries(texts[start : start + 2048], with_floats=True).floats
        np.save(cache / f"chunks-{part:03d}.npy", np.asarray(floats, np.float32))
        print(f"embedded {start + 2048} of {len(texts)} at {time.strftime('%X')}", flush=True)


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


def minilm_blocks(cache: Path, n: int, noise: float) -> Iterator[np.ndarray]:
    """The real rows first, then real rows + gaussian noise of norm ``noise``, renormalized."""
    parts = sorted(cache.glob("chunks-*.npy"))
    if not parts:
        raise SystemExit(f"no embeddings in {cache}: run with --embed first")
    real = _unit(np.concatenate([np.load(p) for p in parts]))
    rng = np.random.default_rng(7)
    for start in range(0, n, BLOCK):
        rows = min(BLOCK, n - start)
        picked = (np.arange(start, start + rows) % len(real)).astype(np.int64)
        block = real[picked]
        synthetic = np.arange(start, start + rows) >= len(real)
        if synthetic.any():
            jitter = rng.standard_normal((int(synthetic.sum()), real.shape[1])).astype(np.float32)
            jitter *= noise / np.sqrt(real.shape[1])
            block[synthetic] = _unit(block[synthetic] + jitter)
        yield block


def clustered_blocks(n: int, d: int) -> Iterator[np.ndarray]:
    """bench/search.py's mixture: N/250 random unit centres plus N(0, I/d) noise."""
    rng = np.random.default_rng(0)
    centres = _unit(rng.standard_normal((max(1, n // 250), d)))
    for start in range(0, n, BLOCK):
        rows = min(BLOCK, n - start)
        yield _unit(
            centres[rng.integers(len(centres), size=rows)] + rng.standard_normal((rows, d)) / np.sqrt(d)
        )


@dataclass
class Vectors:
    codes: np.ndarray  # (n, d/8) uint8
    int8_rows: np.ndarray  # (n, d) int8 memmap
    query_floats: np.ndarray
    query_bits: np.ndarray
    query_int8: np.ndarray
    truth: list[set[int]]
    real_rows: int


def build(data: str, n: int, queries: int, folder: Path, cache: Path, noise: float) -> Vectors:
    if data == "minilm":
        blocks = minilm_blocks(cache, n, noise)
        query_floats = _unit(np.load(cache / "queries.npy"))[:queries]
        real = sum(len(np.load(p, mmap_mode="r")) for p in cache.glob("chunks-*.npy"))
    else:
        blocks = clustered_blocks(n, 1024)
        query_floats = next(clustered_blocks(queries, 1024))
        real = 0
    codes, scale = [], None
    path = folder / "rows.int8"
    with open(path, "wb") as rows:
        for block in blocks:
            scale = calibrate_scale(block, 0.9999) if scale is None else scale
            codes.append(sign_bits(block))
            rows.write(scaled_int8(block, scale).tobytes())
    assert scale is not None
    d = query_floats.shape[1]
    int8_rows = np.memmap(path, dtype=np.int8, mode="r", shape=(n, d))
    query_int8 = scaled_int8(query_floats, scale)
    return Vectors(
        np.concatenate(codes),
        int8_rows,
        query_floats,
        sign_bits(query_floats),
        query_int8,
        int8_exact_truth(int8_rows, query_int8),
        min(real, n),
    )


def int8_exact_truth(int8_rows: np.ndarray, query_int8: np.ndarray, k: int = 10) -> list[set[int]]:
    """Top-k by int8 cosine over all rows (GEMM per block), as bench/search.py's oracle."""
    q = query_int8.astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    best_scores = np.full((len(q), 0), -np.inf, np.float32)
    best_ids = np.zeros((len(q), 0), np.int64)
    for start in range(0, len(int8_rows), BLOCK):
        rows = np.asarray(int8_rows[start : start + BLOCK], dtype=np.float32)
        scores = (q @ rows.T) / np.linalg.norm(rows, axis=1)
        scores = np.concatenate([best_scores, scores], axis=1)
        ids = np.concatenate(
            [best_ids, np.broadcast_to(np.arange(start, start + len(rows)), (len(q), len(rows)))], 1
        )
        keep = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        best_scores, best_ids = np.take_along_axis(scores, keep, 1), np.take_along_axis(ids, keep, 1)
    return [set(row.tolist()) for row in best_ids]

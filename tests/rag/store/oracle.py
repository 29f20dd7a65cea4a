"""Random-vector collections and numpy brute-force answers to check the search paths against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.quantization import cosine_int8, hamming_distances, quantize_tanh
from rag.store import Collection
from rag.types import ChunkRecord, DocumentRecord, Embeddings

Key = tuple[str, int]  # (document id, chunk ordinal)


@dataclass
class Corpus:
    """The vectors stored, by (document id, ordinal), plus each document's metadata."""

    keys: list[Key]
    embeddings: Embeddings
    metadata: dict[str, dict[str, Any]]

    def rows(self, keys: list[Key]) -> np.ndarray:
        index = {key: i for i, key in enumerate(self.keys)}
        return np.array([index[k] for k in keys], dtype=np.int64)


def fill(
    collection: Collection, *, documents: int, chunks: int, dimensions: int, seed: int, floats: bool = False
) -> Corpus:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((documents * chunks, dimensions)).astype(np.float32) * 0.4
    embeddings = quantize_tanh(vectors, keep_floats=floats)
    items = []
    keys: list[Key] = []
    metadata: dict[str, dict[str, Any]] = {}
    for d in range(documents):
        doc_id = f"doc{d:04d}"
        metadata[doc_id] = {"group": d % 5, "lang": ("en", "de", "fr")[d % 3], "year": 2000 + d % 20}
        texts = [f"document {d} chunk {c} word{(d * chunks + c) % 17}" for c in range(chunks)]
        records = [ChunkRecord(c, text, 0, len(text), 4) for c, text in enumerate(texts)]
        record = DocumentRecord(doc_id, "\n".join(texts), f"h{d}", metadata=metadata[doc_id])
        items.append((record, records, embeddings.rows(d * chunks, (d + 1) * chunks)))
        keys.extend((doc_id, c) for c in range(chunks))
    collection.upsert_documents(items)
    return Corpus(keys, embeddings, metadata)


def queries(count: int, dimensions: int, seed: int, floats: bool = False) -> Embeddings:
    vectors = np.random.default_rng(seed).standard_normal((count, dimensions)).astype(np.float32) * 0.4
    return quantize_tanh(vectors, keep_floats=floats)


def cosine_scores(corpus: Corpus, query: Embeddings, allowed: list[Key] | None = None) -> dict[Key, float]:
    keys = corpus.keys if allowed is None else allowed
    scores = cosine_int8(query.int8[0], corpus.embeddings.int8[corpus.rows(keys)])
    return dict(zip(keys, (float(s) for s in scores), strict=True))


def float_scores(corpus: Corpus, query: Embeddings) -> dict[Key, float]:
    assert corpus.embeddings.floats is not None and query.floats is not None
    rows = corpus.embeddings.floats
    q = query.floats[0]
    scores = rows @ q / (np.linalg.norm(rows, axis=1) * np.linalg.norm(q))
    return dict(zip(corpus.keys, (float(s) for s in scores), strict=True))


def hamming(corpus: Corpus, query: Embeddings, allowed: list[Key] | None = None) -> dict[Key, int]:
    keys = corpus.keys if allowed is None else allowed
    distances = hamming_distances(query.bits[0], corpus.embeddings.bits[corpus.rows(keys)])
    return dict(zip(keys, (int(h) for h in distances), strict=True))


def best(values: dict[Key, float], k: int, *, reverse: bool = True) -> list[float]:
    """The k best values (largest when ``reverse``), best first."""
    return sorted(values.values(), reverse=reverse)[:k]

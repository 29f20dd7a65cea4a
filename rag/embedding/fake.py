"""A deterministic, dependency-free embedder for fast tests of the other layers.

Each word hashes to a fixed random direction; a text's vector is the sum over its words, so texts
that share words are close. In contextual mode every chunk also gets a share of its document's
mean vector, so its rows depend on its neighbours as the real context model's do. Its "tokens" are
those words: it has no tokenizer, no special tokens and no separators.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from rag.embedding.base import Embedder
from rag.fingerprint import EmbedderFingerprint
from rag.quantization import quantize_tanh
from rag.types import DocumentMode, Embeddings, Float32Array

_WORD = re.compile(r"\w+")
CONTEXT_WEIGHT = 0.25


@lru_cache(maxsize=65536)
def _word_vector(word: str, dimensions: int) -> Float32Array:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)


class HashEmbedder(Embedder):
    """Bag-of-hashed-words vectors, quantized with the pplx tanh quantizer."""

    def __init__(self, dimensions: int = 64, *, document_mode: DocumentMode | str = "contextual") -> None:
        if dimensions <= 0 or dimensions % 8:
            raise ValueError(f"dimensions must be a positive multiple of 8, got {dimensions}.")
        mode = DocumentMode.parse(document_mode)
        self._dimensions = dimensions
        # auto: contextual, so the layers above see rows that depend on their neighbours
        self.document_mode = (
            DocumentMode.ISOLATED if mode is DocumentMode.ISOLATED else DocumentMode.CONTEXTUAL
        )

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return EmbedderFingerprint.of_model(
            f"fake:{self._dimensions}",
            "1",
            dimensions=self._dimensions,
            quantization="tanh-int8",
            document_mode=self.document_mode,
        )

    def _pooled(self, text: str) -> Float32Array:
        vector = np.zeros(self._dimensions, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            vector += _word_vector(word, self._dimensions)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        pooled = np.stack([self._pooled(t) for t in texts]) if texts else self._empty()
        return quantize_tanh(pooled, keep_floats=with_floats)

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        return [self._embed_document(chunks, with_floats) for chunks in documents]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """The words each text is embedded from (its exact cost for this model)."""
        return [len(_WORD.findall(text)) for text in texts]

    def count_document_tokens(self, documents: Sequence[Sequence[str]]) -> list[int]:
        """The words of each document's chunks; the fake joins no separators."""
        return [sum(self.count_tokens(chunks)) for chunks in documents]

    def _embed_document(self, chunks: Sequence[str], with_floats: bool) -> Embeddings:
        if not chunks:
            return quantize_tanh(self._empty(), keep_floats=with_floats)
        pooled = np.stack([self._pooled(c) for c in chunks])
        if self.document_mode is DocumentMode.CONTEXTUAL:
            pooled = pooled + CONTEXT_WEIGHT * pooled.mean(axis=0, keepdims=True)
        return quantize_tanh(pooled, keep_floats=with_floats)

    def _empty(self) -> Float32Array:
        return np.zeros((0, self._dimensions), dtype=np.float32)

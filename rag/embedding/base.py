"""The embedding interface every backend implements.

Two calls: ``embed_queries`` (independent texts) and ``embed_documents`` (documents as lists of chunks in
order; every chunk is embedded with its document as context when the backend's document mode is
``contextual``, alone when it is ``isolated``). Both return quantized ``Embeddings``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from rag.types import Embeddings

DOCUMENT_MODES = ("contextual", "isolated")


class Embedder(ABC):
    """A document and query embedder. ``fingerprint`` identifies everything that shapes its vectors."""

    @property
    @abstractmethod
    def dimensions(self) -> int:
        """Width d of the vectors (after any Matryoshka truncation)."""

    @property
    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """JSON-able identity: doc_model, doc_revision, query_model, query_revision, dimensions,
        quantization, query_quantization, document_mode. Collections record it and refuse another."""

    @property
    def model_name(self) -> str:
        """The query model's name, as reported to API clients."""
        return str(self.fingerprint["query_model"])

    @abstractmethod
    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        """One row per text."""

    @abstractmethod
    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        """One ``Embeddings`` per document, one row per chunk, in the chunks' order."""


class PairedEmbedder(Embedder):
    """Documents through one model, queries through another (e.g. pplx-embed-context-v1 + pplx-embed-v1)."""

    def __init__(self, documents: Embedder, queries: Embedder) -> None:
        if documents.dimensions != queries.dimensions:
            raise ValueError(
                f"document model width {documents.dimensions} differs from query model width "
                f"{queries.dimensions}; set the same dimensions for both."
            )
        self.documents = documents
        self.queries = queries

    @property
    def dimensions(self) -> int:
        return self.documents.dimensions

    @property
    def fingerprint(self) -> dict[str, Any]:
        doc, query = self.documents.fingerprint, self.queries.fingerprint
        return {
            "doc_model": doc["doc_model"],
            "doc_revision": doc["doc_revision"],
            "query_model": query["query_model"],
            "query_revision": query["query_revision"],
            "dimensions": self.dimensions,
            "quantization": doc["quantization"],
            "query_quantization": query["query_quantization"],
            "document_mode": doc["document_mode"],
        }

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        return self.queries.embed_queries(texts, with_floats=with_floats)

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        return self.documents.embed_documents(documents, with_floats=with_floats)

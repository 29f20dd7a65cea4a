"""The store: collections of documents, chunks and vectors (SQLite + row files + a FAISS binary index)."""

from __future__ import annotations

from rag.store.collection import Collection
from rag.store.library import Library

__all__ = ["Collection", "Library"]

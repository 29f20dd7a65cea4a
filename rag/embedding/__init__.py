"""Embedding backends behind one interface (``Embedder``)."""

from __future__ import annotations

from rag.embedding.base import Embedder, PairedEmbedder
from rag.embedding.fake import HashEmbedder

__all__ = ["Embedder", "HashEmbedder", "PairedEmbedder"]

"""Embedding backends behind one interface (``Embedder``)."""

from __future__ import annotations

from rag.embedding.base import DOCUMENT_MODES, Embedder, PairedEmbedder
from rag.embedding.fake import HashEmbedder

__all__ = ["DOCUMENT_MODES", "Embedder", "HashEmbedder", "PairedEmbedder"]

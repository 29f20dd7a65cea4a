"""A Python client of the REST API: ``RagClient`` (blocking) and ``AsyncRagClient`` (asyncio).

Two classes rather than one with both kinds of methods, as httpx does (``Client``/``AsyncClient``): each
holds one connection pool of its kind. Both send the same ``calls`` and parse into the same ``models``.
Needs httpx (``pip install 'pplx-rag[client]'``); ``import rag`` does not import this package.
"""

from __future__ import annotations

from rag.client.aio import AsyncCollections, AsyncDocuments, AsyncRagClient
from rag.client.models import (
    Chunk,
    Citation,
    CollectionSummary,
    ContextResult,
    Document,
    DocumentOutcome,
    DocumentSummary,
    IngestReport,
    NewDocument,
    SearchHit,
    SearchResults,
)
from rag.client.sync import Collections, Documents, RagClient

__all__ = [
    "AsyncCollections",
    "AsyncDocuments",
    "AsyncRagClient",
    "Chunk",
    "Citation",
    "CollectionSummary",
    "Collections",
    "ContextResult",
    "Document",
    "DocumentOutcome",
    "DocumentSummary",
    "Documents",
    "IngestReport",
    "NewDocument",
    "RagClient",
    "SearchHit",
    "SearchResults",
]

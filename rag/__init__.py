"""pplx-rag: retrieval on contextual chunk embeddings (binary + int8 search, BM25 and hybrid fusion).

The stable Python API is what this module exports (``__all__``; a test pins it). Example::

    from rag import Library, ModelOptions, Searcher, load_embedder, retrieve_context

    embedder = load_embedder(ModelOptions(doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2"))
    library = Library("data")
    searcher = Searcher(library.open_collection("default"), embedder)
    hits = searcher.search("refund policy").hits
    count = ingest.encoding.token_counter("cl100k_base")  # or any str -> int tokenizer count
    context = retrieve_context(searcher, "refund policy", max_tokens=1500, count_tokens=count)

Ingestion (loaders, chunking, the pipeline) lives in the ``ingest`` package and the HTTP service in
``api``; this package imports neither.
"""

from __future__ import annotations

from rag.context import Citation, Context, pack_context, retrieve_context
from rag.embedding.base import Embedder, PairedEmbedder
from rag.embedding.factory import ModelOptions, load_embedder, load_embedder_from_settings
from rag.embedding.fake import HashEmbedder
from rag.errors import (
    AuthError,
    BusyError,
    CollectionExistsError,
    CollectionNotFoundError,
    ConfigError,
    ConflictError,
    CorruptStoreError,
    DocumentNotFoundError,
    EmbeddingError,
    FingerprintMismatchError,
    ForbiddenError,
    InvalidInputError,
    JobNotFoundError,
    ModelLoadError,
    NotFoundError,
    NotReadyError,
    RagError,
    SeparatorInChunkError,
    StoreError,
    StoreLockedError,
    UnauthorizedError,
)
from rag.fingerprint import (
    ChunkerFingerprint,
    CollectionFingerprint,
    EmbedderFingerprint,
    FtsFingerprint,
    check_compatible,
)
from rag.search import Searcher
from rag.settings import Settings
from rag.store import Collection, Library
from rag.types import (
    DEFAULT_SEARCH_MODE,
    ChunkRecord,
    CollectionInfo,
    DocumentMode,
    DocumentRecord,
    Embeddings,
    Hit,
    MetadataFilter,
    SearchMode,
    SearchResult,
    StoredDocument,
)

__all__ = [
    "AuthError",
    "BusyError",
    "ChunkRecord",
    "ChunkerFingerprint",
    "Citation",
    "Collection",
    "CollectionExistsError",
    "CollectionFingerprint",
    "CollectionInfo",
    "CollectionNotFoundError",
    "ConfigError",
    "ConflictError",
    "Context",
    "CorruptStoreError",
    "DEFAULT_SEARCH_MODE",
    "DocumentMode",
    "DocumentNotFoundError",
    "DocumentRecord",
    "Embedder",
    "EmbedderFingerprint",
    "EmbeddingError",
    "Embeddings",
    "FingerprintMismatchError",
    "ForbiddenError",
    "FtsFingerprint",
    "HashEmbedder",
    "Hit",
    "InvalidInputError",
    "JobNotFoundError",
    "Library",
    "MetadataFilter",
    "ModelLoadError",
    "ModelOptions",
    "NotFoundError",
    "NotReadyError",
    "PairedEmbedder",
    "RagError",
    "SearchMode",
    "SearchResult",
    "Searcher",
    "SeparatorInChunkError",
    "Settings",
    "StoreError",
    "StoreLockedError",
    "StoredDocument",
    "UnauthorizedError",
    "check_compatible",
    "load_embedder",
    "load_embedder_from_settings",
    "pack_context",
    "retrieve_context",
]

"""Plain data shared by every layer: embeddings, documents, chunks, hits.

Arrays are numpy; shapes and dtypes are stated on each field. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.errors import ConfigError, InvalidInputError

Int8Array = npt.NDArray[np.int8]
UInt8Array = npt.NDArray[np.uint8]
Float32Array = npt.NDArray[np.float32]

# Metadata filter on document metadata. Keys are metadata fields; a value is either a scalar
# (equality) or one operator dict: {"$eq": v}, {"$in": [v, ...]}, {"$gt"|"$gte"|"$lt"|"$lte": number}
# (several range operators may be combined in one dict). All keys must match (AND).
MetadataFilter = dict[str, Any]

IdArray = npt.NDArray[np.int64]
# (chunk id, score) pairs, best first: what every retrieval stage hands to the next.
Scored = list[tuple[int, float]]


class SearchMode(StrEnum):
    """How a query is searched. The one definition of the modes: the API schema, the CLI and ``rag eval``
    take their names from here."""

    BINARY = "binary"  # Hamming distance over the sign bits only
    BINARY_INT8 = "binary+int8"  # Hamming top k x m, rescored by int8 cosine
    INT8_EXACT = "int8-exact"  # int8 cosine over every chunk
    FLOAT_EXACT = "float-exact"  # float32 cosine over every chunk (collections that keep floats)
    BM25 = "bm25"  # SQLite FTS5 BM25 over chunk text, no embedding
    HYBRID = "hybrid"  # binary+int8 and bm25 fused

    @property
    def is_vector(self) -> bool:
        """Answered by the vector state alone (no lexical stage)."""
        return self in VECTOR_MODES

    @property
    def needs_embedding(self) -> bool:
        return self is not SearchMode.BM25

    @classmethod
    def parse(cls, value: str) -> SearchMode:
        """The mode named ``value``; an unknown name is an ``InvalidInputError`` listing the valid ones."""
        try:
            return cls(value)
        except ValueError:
            raise InvalidInputError(
                f"Unknown search mode {value!r}; use one of {', '.join(SEARCH_MODES)}."
            ) from None


VECTOR_MODES = frozenset(
    {SearchMode.BINARY, SearchMode.BINARY_INT8, SearchMode.INT8_EXACT, SearchMode.FLOAT_EXACT}
)
SEARCH_MODES = tuple(mode.value for mode in SearchMode)
# The one default of every surface (Python API, `rag search`, `POST /v1/search`, `rag eval`'s marker): the
# best mode on both evaluation sets (docs/evaluation.md), fast since the lexical stage is top-k (storage.md).
DEFAULT_SEARCH_MODE = SearchMode.HYBRID


class DocumentMode(StrEnum):
    """How a document's chunks are embedded: with the whole document as context (late chunking) or each
    alone. ``auto`` lets the document model decide (contextual for pplx-embed context models)."""

    AUTO = "auto"
    CONTEXTUAL = "contextual"
    ISOLATED = "isolated"

    @classmethod
    def parse(cls, value: str) -> DocumentMode:
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"document_mode must be auto, contextual or isolated, got {value!r}.") from None


@dataclass(frozen=True)
class Embeddings:
    """Quantized embeddings of n texts.

    int8:   (n, d) int8 codes, compared by cosine (never the raw dot product).
    bits:   (n, d // 8) uint8 sign bits packed with ``np.packbits`` (big-endian: dimension 0 is the
            most significant bit of byte 0), compared by Hamming distance.
    floats: (n, d) float32 pooled vectors before quantization, only when the caller asked for them.
    """

    int8: Int8Array
    bits: UInt8Array
    floats: Float32Array | None = None

    def __post_init__(self) -> None:
        n, d = self.int8.shape
        if self.int8.dtype != np.int8 or self.bits.dtype != np.uint8:
            raise ValueError("Embeddings need int8 codes and uint8 packed bits.")
        if self.bits.shape != (n, (d + 7) // 8):
            raise ValueError(f"bits shape {self.bits.shape} does not match int8 shape {self.int8.shape}.")
        if self.floats is not None and self.floats.shape != (n, d):
            raise ValueError(f"floats shape {self.floats.shape} does not match int8 shape {self.int8.shape}.")

    def __len__(self) -> int:
        return int(self.int8.shape[0])

    @property
    def dimensions(self) -> int:
        return int(self.int8.shape[1])

    def rows(self, start: int, stop: int) -> Embeddings:
        """The rows [start, stop) as a new Embeddings."""
        floats = None if self.floats is None else self.floats[start:stop]
        return Embeddings(self.int8[start:stop], self.bits[start:stop], floats)


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk of a document, as chunking produced it (``document_text[char_start:char_end] == text``)."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    token_count: int
    page: int | None = None


@dataclass(frozen=True)
class DocumentRecord:
    """A document to store. ``id`` is the caller's id (or one the pipeline generated).

    ``source`` is where it came from as users see it (a path relative to the ingested folder, or an
    upload's name); ``root`` is the absolute folder that ``source`` is relative to, kept for ``--sync``
    only (None for uploads and caller documents).
    """

    id: str
    text: str
    content_hash: str
    source: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    root: str | None = None


@dataclass(frozen=True)
class StoredDocument:
    """A document as the store holds it."""

    id: str
    source: str | None
    title: str | None
    content_hash: str
    metadata: dict[str, Any]
    version: int
    created_at: str
    updated_at: str
    chunk_count: int
    settings_hash: str = ""


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk.

    ``chunk_index`` is the chunk's position in its document (its ``ChunkRecord.ordinal``: 0, 1, ...) and
    ``tokens`` its stored token count (``ChunkRecord.token_count``, in the collection's chunker encoding);
    a hit names them as the API does. ``score`` is higher-is-better; its scale depends on the mode.
    """

    chunk_id: int
    document_id: str
    score: float
    text: str
    metadata: dict[str, Any]
    char_start: int
    char_end: int
    page: int | None
    source: str | None
    title: str | None
    chunk_index: int
    tokens: int


@dataclass(frozen=True)
class SearchResult:
    """Hits best first, the mode that produced them, per-stage timings in milliseconds, and how many Hamming
    candidates were rescored by int8 cosine (``binary+int8`` and hybrid's dense list; None in other modes)."""

    hits: list[Hit]
    mode: SearchMode
    timings: dict[str, float]
    candidates: int | None = None


@dataclass(frozen=True)
class CollectionInfo:
    """A collection's name, counts and the fingerprint of what built it.

    ``error`` says why a collection cannot be read (a corrupt database); its counts are then -1 and its
    fingerprint and settings empty. ``None`` for a healthy collection.
    """

    name: str
    documents: int
    chunks: int
    fingerprint: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

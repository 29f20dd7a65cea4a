"""What the client's methods return: the REST API's JSON bodies, parsed (unknown fields are ignored, so
a newer server does not break an older client)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SearchHit(_Body):
    """One retrieved chunk, best first."""

    chunk_id: int
    document_id: str
    score: float
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    char_start: int
    char_end: int
    page: int | None = None
    source: str | None = None
    title: str | None = None
    chunk_index: int | None = None  # the chunk's position in its document (servers with /v1/context)
    tokens: int | None = None  # the chunk's token count (servers with /v1/context)


class SearchResults(_Body):
    hits: list[SearchHit]
    timings: dict[str, float] = Field(default_factory=dict)
    model: str
    mode: str


class Citation(_Body):
    """Where the ``[index]`` passage of a context came from."""

    index: int
    document_id: str
    title: str | None = None
    source: str | None = None
    page: int | None = None
    char_start: int
    char_end: int
    chunk_ids: list[int]
    score: float


class ContextResult(_Body):
    """A prompt-ready context within a token budget, with its numbered citations."""

    context: str
    citations: list[Citation]
    tokens: int
    model: str


class CollectionSummary(_Body):
    name: str
    documents: int
    chunks: int
    fingerprint: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class DocumentSummary(_Body):
    id: str
    source: str | None = None
    title: str | None = None
    content_hash: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    version: int
    created_at: str
    updated_at: str
    chunk_count: int


class Chunk(_Body):
    ordinal: int
    text: str
    char_start: int
    char_end: int
    token_count: int
    page: int | None = None


class Document(DocumentSummary):
    """A stored document with its chunks."""

    chunks: list[Chunk]


class NewDocument(_Body):
    """A document to add; without ``id`` the server derives one from the text."""

    text: str
    id: str | None = None
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentOutcome(_Body):
    id: str
    status: str  # added, updated, skipped or failed
    chunks: int | None = None
    error: str | None = None


class IngestReport(_Body):
    """What an add did to each document (also the result of a background job)."""

    collection: str
    outcomes: list[DocumentOutcome]
    added: int
    updated: int
    skipped: int
    failed: int
    chunks: int
    seconds: float

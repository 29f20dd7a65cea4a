"""Request and response bodies of the REST API, kept apart from the internal dataclasses.

Types used in annotations are imported at module level: FastAPI resolves these models' (postponed)
annotations at run time. The hosted-API-compatible embedding bodies live in ``api.wire``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.errors import InvalidInputError
from rag.jsonvalues import dumps_strict
from rag.types import DEFAULT_SEARCH_MODE, SearchMode

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def unstorable_metadata_error(metadata: dict[str, Any]) -> None:
    """ValueError (a 422 through pydantic) when ``metadata`` cannot be stored as JSON."""
    try:
        dumps_strict(metadata, "metadata")
    except InvalidInputError as exc:
        raise ValueError(exc.message) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="What went wrong, and what to do about it.")
    error_type: str = Field(description="Stable identifier: validation_error, not_found, unauthorized, ...")


class SearchRequest(_Strict):
    """A query against one collection."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "how do I rotate API keys?", "collection": "default", "top_k": 5},
                {
                    "query": "refund policy",
                    "filter": {"lang": "en", "year": {"$gte": 2023}},
                    "mode": "hybrid",
                },
            ]
        },
    )

    query: str = Field(min_length=1, max_length=8192, description="The question or keywords.")
    collection: str = Field("default", pattern=NAME_PATTERN)
    top_k: int | None = Field(None, ge=1, le=1000, description="Hits to return (default: RAG_TOP_K).")
    rescore_multiplier: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Binary candidates rescored by int8 cosine, as a multiple of top_k "
        "(default: RAG_RESCORE_MULTIPLIER).",
    )
    filter: dict[str, Any] | None = Field(
        None, description="Metadata filter: {key: value}, {key: {'$in': [...]}}, {key: {'$gte': 1}}; ANDed."
    )
    mode: SearchMode = Field(DEFAULT_SEARCH_MODE, description="How to search (see docs/api.md).")


class HitPublic(BaseModel):
    """One retrieved chunk, best first."""

    # Built from the core dataclasses (rag.types) by attribute, so fields are not copied by hand.
    model_config = ConfigDict(from_attributes=True)

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


class SearchResponse(BaseModel):
    hits: list[HitPublic]
    timings: dict[str, float] = Field(description="Milliseconds per stage (also in Server-Timing).")
    model: str
    mode: SearchMode


class DocumentIn(_Strict):
    """A document given as text; without ``id`` one is derived from its content."""

    id: str | None = Field(None, min_length=1, max_length=512)
    text: str = Field(min_length=1)
    title: str | None = Field(None, max_length=2048)
    source: str | None = Field(None, max_length=2048)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _storable_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        unstorable_metadata_error(value)  # NaN / Infinity would be stored as invalid JSON
        return value


class AddDocumentsRequest(_Strict):
    """Documents to add or replace (by id); more than the server's threshold run as a background job."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {
                            "id": "handbook-1",
                            "title": "Key rotation",
                            "text": "Rotate API keys every 90 days. Old keys stop working a day later.",
                            "metadata": {"lang": "en", "year": 2024},
                        }
                    ]
                }
            ]
        },
    )

    documents: list[DocumentIn] = Field(min_length=1, max_length=100_000)


OutcomeStatus = Literal["added", "updated", "skipped", "failed"]


class DocumentOutcome(BaseModel):
    """What happened to one document of a request."""

    id: str
    status: OutcomeStatus
    chunks: int | None = None
    error: str | None = None


class IngestReport(BaseModel):
    """The per-document outcome of an add request and its totals."""

    collection: str
    outcomes: list[DocumentOutcome]
    added: int
    updated: int
    skipped: int
    failed: int
    chunks: int
    seconds: float


JobStatus = Literal["queued", "running", "succeeded", "failed"]


class JobAccepted(BaseModel):
    """A request answered 202: poll ``url`` for progress and the outcome."""

    job_id: str
    status: JobStatus
    url: str


class JobPublic(BaseModel):
    id: str
    status: JobStatus
    collection: str
    total: int = Field(description="Documents in the job.")
    done: int = Field(description="Documents processed so far.")
    created_at: str
    started_at: str | None
    finished_at: str | None
    result: IngestReport | None
    error: str | None
    error_type: str | None


class CollectionCreate(_Strict):
    """A new collection and the settings it keeps for its whole life."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "handbook", "keep_floats": False, "chunk_target_tokens": 200}]
        },
    )

    name: str = Field(pattern=NAME_PATTERN)
    keep_floats: bool = Field(False, description="Also store float32 vectors (enables 'float-exact').")
    chunk_target_tokens: int | None = Field(None, ge=16, le=8192)
    chunk_max_tokens: int | None = Field(None, ge=16, le=8192)


class CollectionPublic(BaseModel):
    # Built from the core dataclasses (rag.types) by attribute, so fields are not copied by hand.
    model_config = ConfigDict(from_attributes=True)

    name: str
    documents: int
    chunks: int
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    error: str | None = Field(None, description="Why the collection cannot be read (counts are then -1).")


class CollectionList(BaseModel):
    collections: list[CollectionPublic]


class ChunkPublic(BaseModel):
    ordinal: int
    text: str
    char_start: int
    char_end: int
    token_count: int
    page: int | None


class DocumentSummary(BaseModel):
    # Built from the core dataclasses (rag.types) by attribute, so fields are not copied by hand.
    model_config = ConfigDict(from_attributes=True)

    id: str
    source: str | None
    title: str | None
    content_hash: str
    metadata: dict[str, Any]
    version: int
    created_at: str
    updated_at: str
    chunk_count: int


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class DocumentPublic(DocumentSummary):
    """A stored document with its chunks."""

    chunks: list[ChunkPublic]


class Deleted(BaseModel):
    deleted: str
    kind: Literal["collection", "document"]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model: str
    collections: int


class Info(BaseModel):
    """What the server runs: its models, their width and fingerprint, and the software versions."""

    models: dict[str, str]
    dimensions: int
    fingerprint: dict[str, Any]
    versions: dict[str, str]
    auth: bool
    limits: dict[str, int | float]

"""Request and response bodies of the REST API, kept apart from the internal dataclasses.

Types used in annotations are imported at module level: FastAPI resolves these models' (postponed)
annotations at run time. The hosted-API-compatible embedding bodies live in ``api.wire``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rag.errors import InvalidInputError
from rag.ids import document_problem
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
    collection: str = Field("default", pattern=NAME_PATTERN, description="The collection to search.")
    top_k: int | None = Field(None, ge=1, le=1000, description="Hits to return (default: RAG_TOP_K).")
    rescore_multiplier: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Rescore a fixed pool: max(top_k x this, 100) binary candidates rescored by int8 "
        "cosine (binary+int8; hybrid's lists are as deep, else max(top_k x 4, 100)). Unset: "
        "RAG_RESCORE_MULTIPLIER if the server sets it, else binary+int8 rescores an adaptive depth per "
        "query (every candidate within calibrated Hamming margins of the 10th and the top_k-th nearest; "
        "see docs/api.md).",
    )
    filter: dict[str, Any] | None = Field(
        None, description="Metadata filter: {key: value}, {key: {'$in': [...]}}, {key: {'$gte': 1}}; ANDed."
    )
    mode: SearchMode = Field(DEFAULT_SEARCH_MODE, description="How to search (see docs/api.md).")


SCORE_DESCRIPTION = (
    "Higher is better; the scale depends on the mode. binary: Hamming similarity 1 - 2h/d of the sign bits "
    "(h differing bits of d), in [-1, 1]. binary+int8 and int8-exact: cosine of the int8 codes, in [-1, 1]. "
    "float-exact: cosine of the float32 vectors, in [-1, 1]. bm25: SQLite FTS5 BM25 negated, >= 0, "
    "unbounded and comparable only within one query. hybrid: the fused score of the collection's hybrid "
    "settings (default convex: w * dense + (1 - w) * bm25, each list min-max normalized per query so its "
    "best is 1 and its rank-100 score 0, deeper ranks below 0; rrf: 2 * (w / (60 + dense rank) + (1 - w) / "
    "(60 + bm25 rank))), w the dense weight."
)


class HitPublic(BaseModel):
    """One retrieved chunk, best first."""

    # Built from the core dataclasses (rag.types) by attribute, so fields are not copied by hand.
    model_config = ConfigDict(from_attributes=True)

    chunk_id: int = Field(description="The chunk's id in its collection (stable until it is replaced).")
    document_id: str = Field(description="The id of the chunk's document.")
    score: float = Field(description=SCORE_DESCRIPTION)
    text: str = Field(description="The chunk's text: document text[char_start:char_end].")
    metadata: dict[str, Any] = Field(description="The document's metadata.")
    char_start: int = Field(description="Offset of the chunk's first character in the document text.")
    char_end: int = Field(description="Offset one past the chunk's last character in the document text.")
    page: int | None = Field(description="Page of the chunk's first character, where the format has pages.")
    source: str | None = Field(
        description="Where the document came from: its path relative to the ingested folder, or the "
        "uploaded file's name."
    )
    title: str | None = Field(description="The document's title.")
    chunk_index: int = Field(description="The chunk's position in its document: 0, 1, ...")
    tokens: int = Field(description="The chunk's token count (the collection's chunker encoding).")


class SearchResponse(BaseModel):
    hits: list[HitPublic] = Field(description="The best chunks, best first.")
    timings: dict[str, float] = Field(description="Milliseconds per stage (also in Server-Timing).")
    model: str = Field(description="The query model that embedded the query.")
    mode: SearchMode = Field(description="The mode that answered.")
    candidates: int | None = Field(
        None,
        description="Binary candidates rescored by int8 cosine (binary+int8, and hybrid's dense list): "
        "the depth this query used; null in other modes.",
    )


class ContextRequest(_Strict):
    """A query whose hits, widened by their neighbour chunks, are packed into a prompt-ready context."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"query": "how do I rotate API keys?", "max_tokens": 1500, "neighbors": 1}]
        },
    )

    query: str = Field(min_length=1, max_length=8192, description="The question or keywords.")
    collection: str = Field("default", pattern=NAME_PATTERN, description="The collection to search.")
    max_tokens: int = Field(
        2000, ge=1, le=1_000_000, description="The context's budget in tokens of `encoding`; never exceeded."
    )
    encoding: str = Field(
        "cl100k_base",
        min_length=1,
        max_length=64,
        description="The tiktoken encoding that counts the budget (offline: cl100k_base, o200k_base).",
    )
    neighbors: int = Field(
        1, ge=0, le=20, description="Chunks added on each side of every hit, within its document."
    )
    top_k: int | None = Field(None, ge=1, le=1000, description="Hits to retrieve (default: RAG_TOP_K).")
    mode: SearchMode = Field(DEFAULT_SEARCH_MODE, description="How to search (see docs/api.md).")
    filter: dict[str, Any] | None = Field(
        None, description="Metadata filter: {key: value}, {key: {'$in': [...]}}, {key: {'$gte': 1}}; ANDed."
    )


class CitationPublic(BaseModel):
    """What passage ``[index]`` of the context cites: a span of one document."""

    model_config = ConfigDict(from_attributes=True)

    index: int = Field(description="The passage's number in the context: [1], [2], ...")
    document_id: str = Field(description="The id of the passage's document.")
    title: str | None = Field(description="The document's title.")
    source: str | None = Field(description="Where the document came from (relative path or upload name).")
    page: int | None = Field(description="Page of the passage's first character, where the format has pages.")
    char_start: int = Field(description="Offset of the passage's first character in the document text.")
    char_end: int = Field(description="Offset one past the passage's last character in the document text.")
    chunk_ids: list[int] = Field(description="The passage's chunks, in document order.")
    score: float = Field(description="The best score of a hit in the passage (see the hits' score).")


class ContextResponse(BaseModel):
    context: str = Field(description="Numbered passages, best first: '[n] title (source, page)' then text.")
    citations: list[CitationPublic] = Field(description="One per passage, in the order of the context.")
    tokens: int = Field(description="The exact token count of `context` in the request's encoding.")
    model: str = Field(description="The query model that embedded the query.")


class DocumentIn(_Strict):
    """A document given as text; without ``id`` one is derived from its content."""

    id: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="The document's id (replaces a stored one of that id).",
    )
    text: str = Field(min_length=1, description="The document's text, chunked by the collection's chunker.")
    title: str | None = Field(None, max_length=2048, description="The document's title (shown with hits).")
    source: str | None = Field(
        None, max_length=2048, description="Where the document came from (a relative path, a URL, a name)."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="JSON metadata, returned with hits and matched by filters."
    )

    @field_validator("metadata")
    @classmethod
    def _storable_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        unstorable_metadata_error(value)  # NaN / Infinity would be stored as invalid JSON
        return value

    @model_validator(mode="after")
    def _storable_fields(self) -> DocumentIn:
        """NUL in the id, title or a metadata key, or a dot segment in the id (rag/ids.py)."""
        problem = document_problem(self.id or "derived", self.title, self.metadata)
        if problem is not None:
            raise ValueError(problem)
        return self


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

    documents: list[DocumentIn] = Field(min_length=1, max_length=100_000, description="The documents to add.")


OutcomeStatus = Literal["added", "updated", "skipped", "failed"]


class DocumentOutcome(BaseModel):
    """What happened to one document of a request."""

    id: str = Field(description="The document's id (or the file or line that failed).")
    status: OutcomeStatus = Field(description="added, updated, skipped (unchanged) or failed.")
    chunks: int | None = Field(default=None, description="Chunks stored for the document.")
    error: str | None = Field(default=None, description="Why the document failed.")


class IngestReport(BaseModel):
    """The per-document outcome of an add request and its totals."""

    collection: str = Field(description="The collection written.")
    outcomes: list[DocumentOutcome] = Field(description="One outcome per document, in request order.")
    added: int = Field(description="Documents new to the collection.")
    updated: int = Field(description="Documents that replaced a stored version.")
    skipped: int = Field(description="Documents unchanged since they were stored.")
    failed: int = Field(description="Documents that could not be read or embedded.")
    chunks: int = Field(description="Chunks written.")
    seconds: float = Field(description="Wall time of the request's ingestion.")


JobStatus = Literal["queued", "running", "succeeded", "failed"]


class JobAccepted(BaseModel):
    """A request answered 202: poll ``url`` for progress and the outcome."""

    job_id: str = Field(description="The job's id.")
    status: JobStatus = Field(description="queued or running.")
    url: str = Field(description="Where to poll the job (also the Location header).")


class JobPublic(BaseModel):
    id: str = Field(description="The job's id.")
    status: JobStatus = Field(description="queued, running, succeeded or failed.")
    collection: str = Field(description="The collection the job writes.")
    total: int = Field(description="Documents in the job.")
    done: int = Field(description="Documents processed so far.")
    created_at: str = Field(description="When the job was queued (ISO 8601, UTC).")
    started_at: str | None = Field(description="When it started running.")
    finished_at: str | None = Field(description="When it finished.")
    result: IngestReport | None = Field(description="The per-document outcome, once succeeded.")
    error: str | None = Field(description="Why the job failed.")
    error_type: str | None = Field(description="The failure's error type (as in error bodies).")


class CollectionCreate(_Strict):
    """A new collection and the settings it keeps for its whole life."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "handbook", "keep_floats": False, "chunk_target_tokens": 200}]
        },
    )

    name: str = Field(
        pattern=NAME_PATTERN, description="The new collection's name (letters, digits, _ . -; at most 64)."
    )
    keep_floats: bool = Field(False, description="Also store float32 vectors (enables 'float-exact').")
    chunk_target_tokens: int | None = Field(
        None, ge=16, le=8192, description="Chunk size the chunker aims at (default: RAG_CHUNK_TARGET_TOKENS)."
    )
    chunk_max_tokens: int | None = Field(
        None, ge=16, le=8192, description="Largest chunk in tokens (default: RAG_CHUNK_MAX_TOKENS)."
    )


class CollectionPublic(BaseModel):
    # Built from the core dataclasses (rag.types) by attribute, so fields are not copied by hand.
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="The collection's name.")
    documents: int = Field(description="Documents stored.")
    chunks: int = Field(description="Chunks stored (each one searchable vector).")
    fingerprint: dict[str, Any] = Field(
        description="What built the collection: embedder, chunker and full-text settings."
    )
    settings: dict[str, Any] = Field(
        description="The collection's settings (keep_floats, index_type, tuned hybrid weight, ...)."
    )
    error: str | None = Field(None, description="Why the collection cannot be read (counts are then -1).")


class CollectionList(BaseModel):
    collections: list[CollectionPublic] = Field(description="The collections the key may touch, by name.")


class ChunkPublic(BaseModel):
    ordinal: int = Field(description="The chunk's position in its document: 0, 1, ... (a hit's chunk_index).")
    text: str = Field(description="The chunk's text: document text[char_start:char_end].")
    char_start: int = Field(description="Offset of the chunk's first character in the document text.")
    char_end: int = Field(description="Offset one past the chunk's last character.")
    token_count: int = Field(description="The chunk's token count (the collection's chunker encoding).")
    page: int | None = Field(description="Page of the chunk's first character, where the format has pages.")


class DocumentSummary(BaseModel):
    # Built from the core dataclasses (rag.types) by attribute, so fields are not copied by hand.
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The document's id.")
    source: str | None = Field(
        description="Where the document came from: its path relative to the ingested folder, or the "
        "uploaded file's name."
    )
    title: str | None = Field(description="The document's title.")
    content_hash: str = Field(
        description="sha256 of what was stored (text, title, source, metadata); unchanged documents are "
        "skipped."
    )
    metadata: dict[str, Any] = Field(description="The document's metadata.")
    version: int = Field(description="1 when added, incremented by each replacement.")
    created_at: str = Field(description="When first added (ISO 8601, UTC).")
    updated_at: str = Field(description="When last replaced.")
    chunk_count: int = Field(description="Chunks of the document.")


class DocumentList(BaseModel):
    documents: list[DocumentSummary] = Field(description="A page of documents, in id order.")


class DocumentPublic(DocumentSummary):
    """A stored document with its chunks."""

    chunks: list[ChunkPublic] = Field(description="The document's chunks, in order.")


class Deleted(BaseModel):
    deleted: str = Field(description="The name or id deleted.")
    kind: Literal["collection", "document"] = Field(description="What was deleted.")


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always ok while the process serves.")


class Ready(BaseModel):
    status: Literal["ready"] = Field(description="ready once the model is loaded and the library open.")
    model: str = Field(description="The served model (query model name).")
    collections: int = Field(description="Collections in the library.")


class Info(BaseModel):
    """What the server runs: its models, their width and fingerprint, and the software versions."""

    models: dict[str, str] = Field(description="The document and query models served.")
    dimensions: int = Field(description="Width of the embeddings.")
    fingerprint: dict[str, Any] = Field(
        description="The embedder's fingerprint that collections are checked against."
    )
    versions: dict[str, str] = Field(description="Versions of the service and its main libraries.")
    auth: bool = Field(description="Whether API keys are required.")
    limits: dict[str, int | float] = Field(
        description="Request limits: body and upload sizes, background job threshold, ..."
    )

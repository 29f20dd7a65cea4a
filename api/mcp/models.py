"""What the MCP tools answer: structured content (these models, also published as output schemas) and
the text an LLM reads, numbered so that it can cite ``[n]``.

A **result id** names one retrieved chunk across collections: ``<collection>/<document_id>#<chunk_id>``.
Collection names hold no ``/`` and chunk ids are integers, so the id splits at the first ``/`` and the
last ``#`` even when a document id contains both. ``fetch`` reads its ``id`` as a result id unless it is
given a ``collection``; then ``id`` is a document id of that collection (see ``split_document_id``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from api.schemas import NAME_PATTERN

_RESULT_ID = re.compile(rf"^(?P<collection>{NAME_PATTERN.strip('^$')})/(?P<document>.+)#(?P<chunk>\d+)$")


def result_id(collection: str, document_id: str, chunk_id: int) -> str:
    return f"{collection}/{document_id}#{chunk_id}"


def parse_result_id(value: str) -> tuple[str, str, int] | None:
    """``(collection, document_id, chunk_id)`` of a result id; ``None`` when ``value`` is not one."""
    match = _RESULT_ID.match(value)
    if match is None:
        return None
    return match["collection"], match["document"], int(match["chunk"])


def citation(source: str | None, title: str | None, page: int | None, start: int, end: int) -> str:
    """A short human citation: ``handbook/keys.md, p. 2, chars 0-63``."""
    parts = [source or title or "untitled"]
    if page is not None:
        parts.append(f"p. {page}")
    parts.append(f"chars {start}-{end}")
    return ", ".join(parts)


class SearchResultItem(BaseModel):
    """One retrieved chunk, numbered as in the text content."""

    index: int = Field(description="1-based rank, as [n] in the text content.")
    id: str = Field(description="Result id <collection>/<document_id>#<chunk_id>; pass it to fetch.")
    collection: str
    document_id: str
    chunk_id: int
    score: float
    title: str | None
    source: str | None
    page: int | None
    char_start: int
    char_end: int
    citation: str
    text: str
    metadata: dict[str, Any]


class SearchOutput(BaseModel):
    query: str
    collection: str
    mode: str
    results: list[SearchResultItem]


class ChunkSpan(BaseModel):
    """Where the chunk a result id named lies in the document's text."""

    chunk_id: int
    char_start: int
    char_end: int
    page: int | None


class FetchOutput(BaseModel):
    id: str = Field(description="The id that was fetched.")
    collection: str
    document_id: str
    title: str | None
    source: str | None
    metadata: dict[str, Any]
    version: int
    updated_at: str
    chunks: int
    text: str = Field(description="The document's text, rebuilt from its chunks (offsets match).")
    chunk: ChunkSpan | None = Field(None, description="The chunk a result id named, if any.")


class CollectionItem(BaseModel):
    name: str
    documents: int
    chunks: int
    error: str | None = None


class CollectionsOutput(BaseModel):
    collections: list[CollectionItem]


def split_document_id(value: str, collection: str | None) -> tuple[str, str, int | None]:
    """The collection, document id and chunk id (``None`` for a document id) that ``fetch`` reads.

    With ``collection`` given, ``value`` is a document id of that collection, whatever it looks like;
    without it, a result id, or else a document id of ``default``.
    """
    if collection is not None:
        return collection, value, None
    parsed = parse_result_id(value)
    return parsed if parsed is not None else ("default", value, None)

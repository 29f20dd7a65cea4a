"""The pipeline's units of work: documents waiting to be embedded, their hashes, and token-budget batches."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ingest.loaders import SourceDocument
from ingest.summary import DocumentOutcome, Outcome
from rag.errors import InvalidInputError
from rag.jsonvalues import dumps_strict
from rag.types import ChunkRecord, DocumentRecord

# Lone surrogates cannot be stored as UTF-8 and NUL cuts strings short in SQLite; both are replaced by
# one character each, so char offsets (and PDF page offsets) stay valid.
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


@dataclass(frozen=True)
class Pending:
    """A new or changed document, chunked, waiting to be embedded and written."""

    record: DocumentRecord
    chunks: list[ChunkRecord]
    tokens: int
    outcome: DocumentOutcome  # added or updated; set to failed when the embedder refuses the document

    @property
    def update(self) -> bool:
        return self.outcome.status is Outcome.UPDATED

    @property
    def texts(self) -> list[str]:
        return [chunk.text for chunk in self.chunks]


def batches(pending: list[Pending], budget: int) -> Iterable[list[Pending]]:
    """Whole documents, in order, up to ``budget`` tokens per batch (a larger document goes alone)."""
    batch: list[Pending] = []
    tokens = 0
    for item in pending:
        if batch and tokens + item.tokens > budget:
            yield batch
            batch, tokens = [], 0
        batch.append(item)
        tokens += item.tokens
    if batch:
        yield batch


def storable(document: SourceDocument) -> SourceDocument:
    """``document`` with characters SQLite cannot keep replaced by U+FFFD."""
    if _UNSTORABLE.search(document.text) is None:
        return document
    return replace(document, text=_UNSTORABLE.sub("\ufffd", document.text))


def unstorable_metadata(document: SourceDocument) -> str | None:
    """Why the document's metadata cannot be stored (NaN, Infinity, no JSON form), or None."""
    try:
        dumps_strict(document.metadata, "the metadata")
    except InvalidInputError as exc:
        return exc.message
    return None


def content_hash(document: SourceDocument) -> str:
    """Changes when anything stored about the document changes (so it is rewritten). ``root`` counts only
    when set, so documents without one (uploads, caller documents) keep the hashes they had before roots."""
    rooted = {"root": document.root} if document.root is not None else {}
    return digest(
        {
            "text": document.text,
            "title": document.title,
            "source": document.source,
            "metadata": document.metadata,
            "pages": document.pages,
            **rooted,
        }
    )


def digest(value: Any) -> str:
    """sha256 of canonical JSON."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()

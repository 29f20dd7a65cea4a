"""Adding documents through the API: JSON or uploads in, a per-document outcome out.

Writes go through ``ingest.pipeline.Ingestor`` on a ``Library`` of their own: the ingestor closes the
collection it opened when it is done, which must not close the shared handle searches are using. The
store's file lock orders the writes, and searches see them on their next read. The outcome of each
document (added, updated, skipped, failed) comes from the collection's document states before and after.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from api.schemas import AddDocumentsRequest, DocumentOutcome, IngestReport
from ingest.loaders import LoadFailure, SourceDocument, load_bytes
from ingest.pipeline import IngestOptions, Ingestor, IngestProgress, IngestSummary
from rag.embedding.base import Embedder
from rag.settings import Settings
from rag.store import Collection, Library


@dataclass
class DocumentBatch:
    """Documents to add: given as JSON, or as uploaded files (``uploads``: name and bytes, parsed by
    ``parsed()`` on the thread that ingests them); ``failures``: uploads that could not be read."""

    documents: list[SourceDocument] = field(default_factory=list)
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.documents) + len(self.uploads)

    @property
    def upload_bytes(self) -> int:
        return sum(len(data) for _, data in self.uploads)

    def parsed(self) -> DocumentBatch:
        """The uploads read by the ingestion loaders (one file may hold many documents, e.g. JSON Lines)."""
        batch = DocumentBatch(documents=list(self.documents), failures=list(self.failures))
        for name, data in self.uploads:
            loaded = load_bytes(name, data)
            batch.documents += loaded.documents
            batch.failures += loaded.failures
        return batch


DUPLICATE = "duplicate document id in this request"


def derived_id(text: str) -> str:
    return "doc-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def batch_from_json(body: AddDocumentsRequest) -> DocumentBatch:
    documents = [
        SourceDocument(
            id=doc.id or derived_id(doc.text),
            text=doc.text,
            title=doc.title,
            source=doc.source,
            metadata=dict(doc.metadata),
        )
        for doc in body.documents
    ]
    return DocumentBatch(documents=documents)


def ingest_options(
    settings: Settings, fingerprint: dict[str, Any], collection_settings: dict[str, Any]
) -> IngestOptions:
    """The server's options with the collection's chunker and ``keep_floats``, so fingerprints match."""
    options = IngestOptions.from_settings(settings, keep_floats=bool(collection_settings.get("keep_floats")))
    chunker = fingerprint.get("chunker") or {}
    return replace(
        options,
        encoding=str(chunker.get("encoding", options.encoding)),
        target_tokens=int(chunker.get("target_tokens", options.target_tokens)),
        max_tokens=int(chunker.get("max_tokens", options.max_tokens)),
    )


def new_collection_fingerprint(
    library: Library, embedder: Embedder, options: IngestOptions
) -> dict[str, Any]:
    """The fingerprint the ingestion pipeline expects of a collection built with ``options``."""
    return dict(Ingestor(library, embedder, options).fingerprint)


def _outcomes(
    batch: DocumentBatch,
    summary: IngestSummary,
    before: dict[str, tuple[str, str]],
    collection: Collection,
) -> list[DocumentOutcome]:
    """Each document's fate, from the summary's failures and the document states before and after."""
    after = collection.document_states()
    reasons: dict[str, list[str]] = {}
    for failure in summary.failures:
        reasons.setdefault(failure.name, []).append(failure.reason)
    occurrences = Counter(document.id for document in batch.documents)
    outcomes = [DocumentOutcome(id=f.name, status="failed", error=f.reason) for f in batch.failures]
    seen: set[str] = set()
    for document in batch.documents:
        doc_id = document.id
        if doc_id in seen:
            outcomes.append(DocumentOutcome(id=doc_id, status="failed", error=DUPLICATE))
            continue
        seen.add(doc_id)
        # The pipeline records one failure per repeated id; any beyond those are this document's own.
        own = reasons.get(doc_id, [])[occurrences[doc_id] - 1 :]
        if doc_id in summary.empty:
            outcomes.append(DocumentOutcome(id=doc_id, status="failed", error="the document has no text"))
        elif own:
            outcomes.append(DocumentOutcome(id=doc_id, status="failed", error=own[-1]))
        elif doc_id not in before:
            outcomes.append(DocumentOutcome(id=doc_id, status="added", chunks=_chunks(collection, doc_id)))
        elif before[doc_id] != after.get(doc_id):
            outcomes.append(DocumentOutcome(id=doc_id, status="updated", chunks=_chunks(collection, doc_id)))
        else:
            outcomes.append(DocumentOutcome(id=doc_id, status="skipped"))
    return outcomes


def _chunks(collection: Collection, doc_id: str) -> int:
    return collection.get_document(doc_id).chunk_count


def report(name: str, outcomes: list[DocumentOutcome], summary: IngestSummary) -> IngestReport:
    def count(status: str) -> int:
        return sum(1 for outcome in outcomes if outcome.status == status)

    return IngestReport(
        collection=name,
        outcomes=outcomes,
        added=count("added"),
        updated=count("updated"),
        skipped=count("skipped"),
        failed=count("failed"),
        chunks=summary.chunks,
        seconds=round(summary.seconds, 3),
    )


def ingest_batch(
    settings: Settings,
    embedder: Embedder,
    collection: Collection,
    batch: DocumentBatch,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Parse and ingest ``batch`` into an existing ``collection`` (blocking: run it off the event loop)."""
    batch = batch.parsed()
    options = ingest_options(settings, collection.fingerprint, collection.settings)
    total = len(batch.documents) + len(batch.failures)

    def relay(update: IngestProgress) -> None:
        if progress is not None:  # documents skipped or refused in planning count as done
            progress(total - update.documents_total + update.documents_done)

    before = collection.document_states()
    library = Library(settings.data_dir)
    try:
        ingestor = Ingestor(library, embedder, options)
        summary = ingestor.ingest(batch.documents, collection=collection.name, progress=relay)
    finally:
        library.close()
    return report(collection.name, _outcomes(batch, summary, before, collection), summary)

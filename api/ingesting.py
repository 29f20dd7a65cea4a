"""Adding documents through the API: JSON or uploads in, a per-document outcome out.

Writes go through ``ingest.pipeline.Ingestor`` on the process's one ``Library`` (one shared handle per
collection, as searches use it); the store's file lock orders the writes, and searches see them on their
next read. Each document's outcome (added, updated, skipped, failed) is the pipeline's own record of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from api.priority import SLICE_TOKENS, QueryPriority
from api.schemas import AddDocumentsRequest, DocumentOutcome, IngestReport
from ingest.loaders import LoadFailure, SourceDocument, load_bytes
from ingest.pipeline import (
    EmbeddingStage,
    IngestOptions,
    Ingestor,
    IngestProgress,
    IngestSummary,
    Outcome,
    SlicedStage,
    ray_stage,
)
from rag.embedding.base import Embedder
from rag.embedding.factory import ModelOptions
from rag.fingerprint import CollectionFingerprint
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

    @property
    def size(self) -> int:
        """Bytes of uploads plus characters of JSON documents' text: what the work grows with."""
        return self.upload_bytes + sum(len(document.text) for document in self.documents)

    def to_payload(self) -> bytes:
        """The batch as bytes for the job store (``from_payload`` reads it back), so a job can be resumed."""
        documents = [asdict(document) for document in self.documents]
        uploads = [[name, base64.b64encode(data).decode("ascii")] for name, data in self.uploads]
        failures = [asdict(failure) for failure in self.failures]
        record = {"documents": documents, "uploads": uploads, "failures": failures}
        return json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")

    @classmethod
    def from_payload(cls, payload: bytes) -> DocumentBatch:
        record = json.loads(payload.decode("utf-8", "surrogatepass"))
        documents = [
            SourceDocument(**{**doc, "pages": [tuple(page) for page in doc["pages"]]})
            for doc in record["documents"]
        ]
        uploads = [(name, base64.b64decode(data)) for name, data in record["uploads"]]
        failures = [LoadFailure(**failure) for failure in record["failures"]]
        return cls(documents=documents, uploads=uploads, failures=failures)

    def parsed(self) -> DocumentBatch:
        """The uploads read by the ingestion loaders (one file may hold many documents, e.g. JSON Lines)."""
        batch = DocumentBatch(documents=list(self.documents), failures=list(self.failures))
        for name, data in self.uploads:
            loaded = load_bytes(name, data)
            batch.documents += loaded.documents
            batch.failures += loaded.failures
        return batch


NO_TEXT = "the document has no text"


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
    settings: Settings,
    fingerprint: CollectionFingerprint | None,
    collection_settings: dict[str, Any],
    max_input_tokens: int | None = None,
) -> IngestOptions:
    """The server's options with the collection's chunker and ``keep_floats``, so fingerprints match (a
    new collection's chunk sizes follow the model's ``max_input_tokens`` unless the settings fix them)."""
    options = IngestOptions.from_settings(settings, max_input_tokens=max_input_tokens)
    if fingerprint is None:
        return replace(options, keep_floats=bool(collection_settings.get("keep_floats")))
    return options.for_collection(fingerprint, collection_settings)


def _outcomes(batch: DocumentBatch, summary: IngestSummary) -> list[DocumentOutcome]:
    """Each document's fate: the uploads that could not be read, then what the pipeline did."""
    outcomes = [DocumentOutcome(id=f.name, status="failed", error=f.reason) for f in batch.failures]
    for outcome in summary.outcomes:
        if outcome.status is Outcome.EMPTY:
            outcomes.append(DocumentOutcome(id=outcome.id, status="failed", error=NO_TEXT))
        elif outcome.status is Outcome.FAILED:
            outcomes.append(DocumentOutcome(id=outcome.id, status="failed", error=outcome.error))
        elif outcome.status is Outcome.SKIPPED:
            outcomes.append(DocumentOutcome(id=outcome.id, status="skipped"))
        elif outcome.status is Outcome.UPDATED:
            outcomes.append(DocumentOutcome(id=outcome.id, status="updated", chunks=outcome.chunks))
        else:
            outcomes.append(DocumentOutcome(id=outcome.id, status="added", chunks=outcome.chunks))
    return outcomes


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


_cluster: dict[tuple[str, ModelOptions], EmbeddingStage] = {}
_cluster_lock = threading.Lock()


def job_embedder(
    settings: Settings, embedder: Embedder, priority: QueryPriority | None = None
) -> Embedder | EmbeddingStage:
    """What a background job embeds with: the Ray cluster of ``RAG_RAY_ADDRESS`` when one is set (one
    stage per process, joined on the first job, on the jobs thread), else the process's model, in slices
    that wait for the searches in flight (``priority``). Queries always use the local model."""
    if not settings.ray_address:
        if priority is None:
            return embedder
        return SlicedStage(embedder, before_slice=priority.before_slice, slice_tokens=SLICE_TOKENS)
    key = (settings.ray_address, ModelOptions.from_settings(settings))
    with _cluster_lock:
        if key not in _cluster:
            _cluster[key] = ray_stage(settings.ray_address, key[1], IngestOptions.from_settings(settings))
        return _cluster[key]


def ingest_batch(
    library: Library,
    settings: Settings,
    embedder: Embedder | EmbeddingStage,
    collection: Collection,
    batch: DocumentBatch,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Parse and ingest ``batch`` into an existing ``collection`` of the process's one ``library``
    (blocking: run it off the event loop)."""
    batch = batch.parsed()
    options = ingest_options(settings, collection.fingerprint, collection.settings)
    total = len(batch.documents) + len(batch.failures)

    def relay(update: IngestProgress) -> None:
        if progress is not None:  # documents skipped or refused in planning count as done
            progress(total - update.documents_total + update.documents_done)

    ingestor = Ingestor(library, embedder, options)
    summary = ingestor.ingest(batch.documents, collection=collection.name, progress=relay)
    return report(collection.name, _outcomes(batch, summary), summary)

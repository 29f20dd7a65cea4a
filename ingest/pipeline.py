"""The ingestion pipeline: documents → chunks → ``embed_documents`` → ``upsert_documents``.

Idempotent: a document whose content hash and settings hash match what the collection holds is skipped; a
changed one is re-embedded whole (in contextual mode every chunk vector depends on its neighbours) and
replaced in one write. Writes go in batches of whole documents up to a token budget, each one atomic, so a
run killed half way leaves only complete documents and the next run finishes the rest. Documents with no
text are not stored (they are listed in the summary, and a stored earlier version is deleted).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ingest.chunking import chunk_text
from ingest.collisions import RootCollisions
from ingest.encoding import get_encoding
from ingest.loaders import LoadFailure, SourceDocument
from ingest.pending import Pending, content_hash, digest, storable, unstorable_metadata
from ingest.stages import EmbeddingStage, LocalStage, SlicedStage
from ingest.summary import DocumentOutcome, IngestOptions, IngestProgress, IngestSummary, Outcome
from rag.embedding.base import Embedder
from rag.embedding.factory import ModelOptions
from rag.errors import CollectionNotFoundError, ConfigError
from rag.fingerprint import check_compatible
from rag.ids import document_problem
from rag.store import Collection, Library
from rag.types import ChunkRecord, DocumentRecord

__all__ = [
    "DocumentOutcome",
    "EmbeddingStage",
    "IngestOptions",
    "IngestProgress",
    "IngestSummary",
    "Ingestor",
    "Outcome",
    "SlicedStage",
    "ray_stage",
]

DUPLICATE_ID = "duplicate document id (an earlier document in this batch has the same id)"

ProgressCallback = Callable[[IngestProgress], None]


def ray_stage(
    address: str | None, models: ModelOptions, options: IngestOptions | Callable[[int | None], IngestOptions]
) -> EmbeddingStage:
    """An embedding stage on the Ray cluster at ``address`` (None: start one here); ``options``: how it
    chunks, or a function of the model's window giving that (``RayStage``). Ray is imported only now, so
    that ingesting without a cluster never loads it."""
    from ingest.distributed import RayStage

    return RayStage(address, models, options)


class Ingestor:
    """Ingests documents into collections of ``library`` with ``embedder`` (an ``Embedder`` run here, or an
    ``EmbeddingStage`` such as ``ingest.distributed.RayStage`` that embeds elsewhere).

    Example::

        ingestor = Ingestor(Library(data_dir), HashEmbedder(64), IngestOptions())
        summary = ingestor.ingest(documents, collection="default")
    """

    def __init__(
        self, library: Library, embedder: Embedder | EmbeddingStage, options: IngestOptions | None = None
    ) -> None:
        self.library = library
        self.stage: EmbeddingStage = LocalStage(embedder) if isinstance(embedder, Embedder) else embedder
        self.options = options or IngestOptions()
        self.encoding = get_encoding(self.options.encoding, self.options.tiktoken_cache_dir)
        self.fingerprint = self.options.fingerprint(self.stage.fingerprint)
        self._chunked: dict[str, tuple[str, list[ChunkRecord]]] = {}

    def ingest_paths(
        self,
        paths: Sequence[Path],
        *,
        collection: str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        sync: bool = False,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        """Load files and folders, then :meth:`ingest` them; ``sync`` removes documents whose location
        (``root/source``: where the file lay) is under ``paths`` and that this run did not produce (files
        that failed to load are kept)."""
        started = time.perf_counter()
        stored = self._stored_hashes(collection)
        read = self.stage.load(paths, include, exclude, stored, max_file_bytes=self.options.max_file_bytes)
        loaded, self._chunked = read.result, read.chunked
        keep = {failure.source for failure in loaded.failures if failure.source}
        sync_sources = [os.path.realpath(path) for path in paths] if sync else None
        try:
            summary = self._run(loaded.documents, collection, sync_sources, keep, dry_run, progress)
        finally:
            self._chunked = {}
        summary.failures = loaded.failures + summary.failures
        summary.failed += len(loaded.failures)
        unreadable = [
            DocumentOutcome(f.name, Outcome.FAILED, error=f.reason, source=f.source) for f in loaded.failures
        ]
        summary.outcomes = unreadable + summary.outcomes
        summary.seconds = time.perf_counter() - started  # reading the files included
        return summary

    def ingest(
        self,
        documents: Iterable[SourceDocument],
        *,
        collection: str,
        sync_sources: Iterable[str] | None = None,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        """Add, update or skip each document; with ``sync_sources`` (absolute files or folders, compared with
        each stored document's location: ``root/source``, or ``source`` for documents without a root), also
        delete stored documents under them that are not among ``documents``."""
        sources = list(sync_sources) if sync_sources is not None else None
        return self._run(documents, collection, sources, set(), dry_run, progress)

    def _run(
        self,
        documents: Iterable[SourceDocument],
        name: str,
        sync_sources: list[str] | None,
        keep_sources: set[str],
        dry_run: bool,
        progress: ProgressCallback | None,
    ) -> IngestSummary:
        started, used = time.perf_counter(), self.stage.api_usage
        summary = IngestSummary(collection=name, dry_run=dry_run)
        # The collection is not closed here: the library shares one handle per name with its other users
        # (the API's searches); whoever owns the library closes it.
        collection = self._collection(name, create=False)
        states = collection.document_states() if collection else {}
        keep_floats = bool(collection.settings.get("keep_floats")) if collection else self.options.keep_floats
        settings_hash = self._settings_hash(keep_floats)
        roots = RootCollisions(collection.document_roots() if collection else {})
        pending, seen, stale = self._plan(documents, states, settings_hash, roots, summary)
        if collection is None and pending and not dry_run:
            # created only when there is something to write (a missing path made an empty collection)
            collection = self._collection(name, create=True)
        doomed = stale + self._unsynced(collection, sync_sources, keep_sources, seen)
        if dry_run or collection is None:
            self._count_planned(pending, doomed, summary)
        else:
            self._write(collection, pending, settings_hash, keep_floats, summary, progress)
            summary.deleted += collection.delete_documents(doomed) if doomed else 0
        summary.seconds = time.perf_counter() - started
        summary.api_usage = self.stage.api_usage - used
        return summary

    def _stored_hashes(self, name: str) -> dict[str, str]:
        """Each stored document's content hash (none for a collection that does not exist yet)."""
        try:
            collection = self.library.open_collection(name)
        except CollectionNotFoundError:
            return {}
        return {doc_id: hashes[0] for doc_id, hashes in collection.document_states().items()}

    def _collection(self, name: str, *, create: bool) -> Collection | None:
        """The collection, created when missing (a dry run never creates one), checked against our
        embedder and chunker."""
        if not create:
            try:
                collection = self.library.open_collection(name)
            except CollectionNotFoundError:
                return None
        else:
            settings = {"keep_floats": True} if self.options.keep_floats else None
            collection = self.library.get_or_create_collection(
                name, fingerprint=self.fingerprint, settings=settings
            )
        self._check(collection)
        return collection

    def _check(self, collection: Collection) -> None:
        check_compatible(
            collection.name,
            collection.fingerprint,
            embedder=self.fingerprint.embedder,
            chunker=self.fingerprint.chunker,
        )
        if self.options.keep_floats and not collection.settings.get("keep_floats"):
            raise ConfigError(
                f"collection {collection.name!r} was created without keep_floats; floats can only be kept "
                "from a collection's creation on (ingest into a new collection)."
            )

    def _settings_hash(self, keep_floats: bool) -> str:
        return digest({**self.fingerprint.to_dict(), "keep_floats": keep_floats})

    def _plan(
        self,
        documents: Iterable[SourceDocument],
        states: dict[str, tuple[str, str]],
        settings_hash: str,
        roots: RootCollisions,
        summary: IngestSummary,
    ) -> tuple[list[Pending], set[str], list[str]]:
        """Chunk every new or changed document; return them, the ids seen, and stored ids to delete
        because their new text is empty."""
        pending: list[Pending] = []
        seen: set[str] = set()
        stale: list[str] = []
        for document in documents:
            summary.documents += 1
            if document.id in seen:
                summary.fail(document.id, DUPLICATE_ID, document.source)
                continue
            seen.add(document.id)
            refusal = document_problem(document.id, document.title, document.metadata)
            refusal = refusal or unstorable_metadata(document) or roots.problem(document)
            if refusal is not None:
                summary.fail(document.id, refusal, document.source)
                continue
            document = storable(document)
            if not document.text.strip():
                summary.empty.append(document.id)
                summary.record(document.id, Outcome.EMPTY, source=document.source)
                stale += [document.id] if document.id in states else []
                continue
            hashed = content_hash(document)
            if states.get(document.id) == (hashed, settings_hash):
                summary.skipped += 1
                summary.record(document.id, Outcome.SKIPPED, source=document.source)
                continue
            update = document.id in states
            outcome = summary.record(
                document.id, Outcome.UPDATED if update else Outcome.ADDED, source=document.source
            )
            pending.append(self._prepare(document, hashed, outcome))
        return pending, seen, stale

    def _prepare(self, document: SourceDocument, hashed: str, outcome: DocumentOutcome) -> Pending:
        made = self._chunked.get(document.id)  # chunked while loading (by the stage), for this exact content
        chunks = made[1] if made is not None and made[0] == hashed else self._chunk(document)
        record = DocumentRecord(
            id=document.id,
            text=document.text,
            content_hash=hashed,
            source=document.source,
            title=document.title,
            metadata=dict(document.metadata),
            root=document.root,
        )
        outcome.chunks = len(chunks)
        return Pending(record, chunks, sum(chunk.token_count for chunk in chunks), outcome)

    def _chunk(self, document: SourceDocument) -> list[ChunkRecord]:
        return chunk_text(
            document.text,
            self.encoding,
            target_tokens=self.options.target_tokens,
            max_tokens=self.options.max_tokens,
            pages=document.pages,
        )

    def _unsynced(
        self, collection: Collection | None, sync_sources: list[str] | None, keep: set[str], seen: set[str]
    ) -> list[str]:
        """Stored ids located under ``sync_sources`` that this run did not produce; nothing from a source
        that failed to load, or under a folder that failed to load, is ever among them."""
        if collection is None or sync_sources is None:
            return []
        roots = [root.rstrip("/") for root in sync_sources]
        kept = [source.rstrip("/") for source in keep]
        return [
            doc_id
            for source, ids in collection.documents_by_source().items()
            if _under(source, roots) and not _under(source, kept)
            for doc_id in ids
            if doc_id not in seen
        ]

    def _count_planned(self, pending: list[Pending], doomed: list[str], summary: IngestSummary) -> None:
        for item in pending:
            summary.updated += item.update
            summary.added += not item.update
            summary.chunks += len(item.chunks)
            summary.tokens += item.tokens
        summary.deleted += len(doomed)

    def _write(
        self,
        collection: Collection,
        pending: list[Pending],
        settings_hash: str,
        keep_floats: bool,
        summary: IngestSummary,
        progress: ProgressCallback | None,
    ) -> None:
        total_tokens = sum(item.tokens for item in pending)
        report = progress or (lambda _: None)
        report(IngestProgress(0, len(pending), 0, 0, total_tokens))
        done = 0
        for batch in self.stage.embed(pending, self.options.batch_tokens, keep_floats):
            written = [(item, rows) for item, rows in batch if not isinstance(rows, str)]
            for item, reason in ((item, rows) for item, rows in batch if isinstance(rows, str)):
                _refused(item, reason, summary)
            items = [(item.record, item.chunks, rows) for item, rows in written]
            collection.upsert_documents(items, settings_hash=settings_hash)
            self._count_planned([item for item, _ in written], [], summary)
            # never silent: the chunks whose tail the model did not read are counted
            summary.truncated += sum(self.stage.count_truncated([item.texts for item, _ in written]))
            done += len(batch)
            report(IngestProgress(done, len(pending), summary.chunks, summary.tokens, total_tokens))


def _under(source: str, roots: list[str]) -> bool:
    """Whether ``source`` is one of ``roots`` or lies in a folder among them."""
    return any(source == root or source.startswith(root + "/") for root in roots)


def _refused(item: Pending, reason: str, summary: IngestSummary) -> None:
    """The embedder refused the document's input: it is a failure, named by id, and not written."""
    summary.failures.append(LoadFailure(item.record.id, reason, item.record.source))
    summary.failed += 1
    item.outcome.status, item.outcome.error, item.outcome.chunks = Outcome.FAILED, reason, 0

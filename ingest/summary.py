"""What an ingestion reports: its options, its progress as it goes, and its summary at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ingest.chunking import chunker_fingerprint
from ingest.loaders import LoadFailure
from ingest.loaders.files import DEFAULT_MAX_FILE_BYTES
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint, EmbedderFingerprint
from rag.settings import Settings


@dataclass(frozen=True)
class IngestOptions:
    """How documents are chunked and written.

    ``batch_tokens``: chunk tokens per embedding call and per atomic write (whole documents; one larger
    document is a batch of its own). ``keep_floats``: a new collection also stores float32 vectors, so
    that ``float-exact`` search works; it cannot be changed after creation.
    """

    encoding: str = "cl100k_base"
    target_tokens: int = 200
    max_tokens: int = 256
    batch_tokens: int = 16384
    keep_floats: bool = False
    tiktoken_cache_dir: Path | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # larger files are failures, never read

    @property
    def chunker(self) -> ChunkerFingerprint:
        """The chunker fingerprint of collections built with these options (no tokenizer needed)."""
        return chunker_fingerprint(
            self.encoding, target_tokens=self.target_tokens, max_tokens=self.max_tokens
        )

    def fingerprint(self, embedder: EmbedderFingerprint) -> CollectionFingerprint:
        """What a collection built with these options and ``embedder`` records."""
        return CollectionFingerprint(embedder=embedder, chunker=self.chunker)

    def for_collection(self, fingerprint: CollectionFingerprint, settings: dict[str, Any]) -> IngestOptions:
        """These options with the chunker and ``keep_floats`` an existing collection was built with, so
        writes into it match its fingerprint whatever the defaults are now."""
        chunker = fingerprint.chunker
        keep_floats = bool(settings.get("keep_floats"))
        if chunker is None:
            return replace(self, keep_floats=keep_floats)
        return replace(
            self,
            encoding=chunker.encoding,
            target_tokens=chunker.target_tokens,
            max_tokens=chunker.max_tokens,
            keep_floats=keep_floats,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, keep_floats: bool = False) -> IngestOptions:
        return cls(
            encoding=settings.tiktoken_encoding,
            target_tokens=settings.chunk_target_tokens,
            max_tokens=settings.chunk_max_tokens,
            batch_tokens=settings.max_batch_tokens,
            keep_floats=keep_floats,
            tiktoken_cache_dir=settings.tiktoken_cache_dir,
            max_file_bytes=settings.max_file_bytes,
        )


@dataclass(frozen=True)
class IngestProgress:
    """Sent to the ``progress`` callback once the work is known and after every written batch."""

    documents_done: int
    documents_total: int
    chunks_done: int
    tokens_done: int
    tokens_total: int


class Outcome(StrEnum):
    """What ingestion did with one input document."""

    ADDED = "added"
    UPDATED = "updated"
    SKIPPED = "skipped"  # unchanged: content and settings hashes match what is stored
    EMPTY = "empty"  # no text: not stored (an earlier version is deleted)
    FAILED = "failed"  # unreadable or refused; ``error`` says why


@dataclass
class DocumentOutcome:
    """One input document's fate (``chunks``: chunks written, for added and updated documents)."""

    id: str
    status: Outcome
    chunks: int = 0
    error: str | None = None
    source: str | None = None


@dataclass
class IngestSummary:
    """The outcome of one ingestion.

    ``added``/``updated``: documents (re)embedded and written; ``skipped``: unchanged, not touched;
    ``deleted``: removed by ``sync`` or because their text became empty; ``failed``: inputs that could not
    be read or were refused (named in ``failures``); ``empty``: ids of documents with no text, which are
    not stored. ``outcomes`` says what happened to each input, in input order. ``documents`` counts the
    documents read; ``chunks`` and ``tokens`` count what was embedded (or would be, in a dry run);
    ``seconds`` is the wall time.
    """

    collection: str
    dry_run: bool = False
    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    failures: list[LoadFailure] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    outcomes: list[DocumentOutcome] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def fail(self, name: str, reason: str, source: str | None = None) -> DocumentOutcome:
        self.failures.append(LoadFailure(name, reason, source))
        self.failed += 1
        return self.record(name, Outcome.FAILED, error=reason, source=source)

    def record(
        self, doc_id: str, status: Outcome, *, error: str | None = None, source: str | None = None
    ) -> DocumentOutcome:
        outcome = DocumentOutcome(doc_id, status, error=error, source=source)
        self.outcomes.append(outcome)
        return outcome

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (failures as ``{"name", "reason"}``)."""
        data = asdict(self)
        data["failures"] = [{"name": f.name, "reason": f.reason} for f in self.failures]
        del data["outcomes"]  # the --json shape lists failures; outcomes are for API callers
        data["seconds"] = round(self.seconds, 3)
        return data

"""What an ingestion reports: its options, its progress as it goes, and its summary at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ingest.chunking import chunker_fingerprint
from ingest.loaders import LoadFailure
from ingest.loaders.files import DEFAULT_MAX_FILE_BYTES
from rag.embedding.base import SPECIAL_TOKENS_BOUND, ApiUsage
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint, EmbedderFingerprint
from rag.settings import Settings

DEFAULT_TARGET_TOKENS = 200
DEFAULT_MAX_TOKENS = 256
# Document-model tokens a chunk may spend per cl100k token and still be read whole. Measured with
# all-MiniLM-L6-v2's WordPiece on chunks of SciFact, COVID-QA and samples/corpus: median 1.06, p99 1.22,
# highest 1.56 (short chunks full of numbers and symbols); at 256 cl100k tokens 3.6% of the chunks were cut.
MODEL_TOKENS_PER_CHUNK_TOKEN = 1.5


def chunk_sizes(max_input_tokens: int | None) -> tuple[int, int]:
    """Default (target, max) chunk sizes in cl100k tokens for a document model that reads at most
    ``max_input_tokens`` tokens per chunk: 200 / 256 when that fits (pplx: 32k), else a maximum whose
    model tokens fit at 1.5 model tokens per cl100k token (169 for MiniLM's 256) and a target in today's
    proportion (200 / 256 of it)."""
    if max_input_tokens is None:
        return DEFAULT_TARGET_TOKENS, DEFAULT_MAX_TOKENS
    fitting = int((max_input_tokens - SPECIAL_TOKENS_BOUND) / MODEL_TOKENS_PER_CHUNK_TOKEN)
    maximum = max(16, min(DEFAULT_MAX_TOKENS, fitting))
    target = max(16, min(DEFAULT_TARGET_TOKENS, maximum * DEFAULT_TARGET_TOKENS // DEFAULT_MAX_TOKENS))
    return target, maximum


@dataclass(frozen=True)
class IngestOptions:
    """How documents are chunked and written.

    ``batch_tokens``: chunk tokens per embedding call and per atomic write (whole documents; one larger
    document is a batch of its own). ``keep_floats``: a new collection also stores float32 vectors, so
    that ``float-exact`` search works; it cannot be changed after creation.
    """

    encoding: str = "cl100k_base"
    target_tokens: int = DEFAULT_TARGET_TOKENS
    max_tokens: int = DEFAULT_MAX_TOKENS
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
    def from_settings(
        cls, settings: Settings, *, keep_floats: bool = False, max_input_tokens: int | None = None
    ) -> IngestOptions:
        """Options from the settings; chunk sizes the user did not set (``RAG_CHUNK_TARGET_TOKENS``,
        ``RAG_CHUNK_MAX_TOKENS``) follow the document model's ``max_input_tokens`` (``chunk_sizes``)."""
        target, maximum = chunk_sizes(max_input_tokens)
        chosen = settings.model_fields_set
        if "chunk_max_tokens" in chosen:
            maximum = settings.chunk_max_tokens
            target = min(target, maximum)
        if "chunk_target_tokens" in chosen:
            target = settings.chunk_target_tokens
            maximum = max(maximum, target)
        return cls(
            encoding=settings.tiktoken_encoding,
            target_tokens=target,
            max_tokens=maximum,
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
    ``truncated`` counts the embedded chunks the document model could not read whole (it cut their tail:
    the chunk sizes exceed its window, ``Embedder.count_truncated``); ``seconds`` is the wall time;
    ``api_usage`` what the hosted API billed for it (zero locally).
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
    truncated: int = 0
    seconds: float = 0.0
    api_usage: ApiUsage = field(default_factory=ApiUsage)

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

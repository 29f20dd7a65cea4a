"""The pipeline's embedding stage: pending documents in, write batches of ``(Pending, vectors)`` out.

The pipeline plans (what to embed) and writes (one atomic ``upsert_documents`` per batch); the stage in
between only turns chunks into vectors. ``LocalStage`` runs the embedder in this process; the Ray stage
(``ingest.distributed``) runs it in an actor pool on a cluster. Both yield whole documents, in input
order, grouped by the same token budget, so the writes are the same whichever stage ran.

A stage may also load and chunk files (``load``): the local one reads them here; the Ray one in tasks,
returning the chunks it already made so the pipeline need not chunk those documents again (``stored``: id
-> stored content hash, so that unchanged documents need not be chunked at all).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ingest.loaders import LoadResult, load_paths
from ingest.pending import Pending, batches
from rag.embedding.base import ApiUsage, Embedder
from rag.errors import InvalidInputError
from rag.fingerprint import EmbedderFingerprint
from rag.types import ChunkRecord, Embeddings

_HOST_PORT = re.compile(r"^[\w.-]+:\d+$")

# A document's vectors, or the reason the embedder refused it (it becomes that document's failure).
Embedded = tuple[Pending, Embeddings | str]


@dataclass
class Loaded:
    """Files read by a stage; ``chunked``: id -> (content hash, chunks) made while loading (the pipeline
    uses them only when the hash matches the document it plans, so they can never be stale)."""

    result: LoadResult
    chunked: dict[str, tuple[str, list[ChunkRecord]]] = field(default_factory=dict)


class EmbeddingStage(Protocol):
    """Where documents are embedded (and optionally loaded and chunked)."""

    @property
    def fingerprint(self) -> EmbedderFingerprint: ...

    def load(
        self,
        paths: Sequence[Path],
        include: Sequence[str],
        exclude: Sequence[str],
        stored: dict[str, str],
        *,
        max_file_bytes: int,
    ) -> Loaded: ...

    def embed(self, pending: list[Pending], budget: int, keep_floats: bool) -> Iterator[list[Embedded]]: ...

    def count_truncated(self, documents: list[list[str]]) -> list[int]:
        """Chunks per document that the document model cut (``Embedder.count_truncated``)."""
        ...

    @property
    def max_input_tokens(self) -> int | None:
        """The document model's window (``Embedder.max_input_tokens``): the default chunk sizes follow it
        (``IngestOptions.from_settings(..., max_input_tokens=...)``, wherever the model runs)."""
        ...

    @property
    def api_usage(self) -> ApiUsage:
        """What a billed backend has used so far (``Embedder.api_usage``)."""
        ...


class LocalStage:
    """The embedder in this process, one token-budget batch per call."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return self.embedder.fingerprint

    def load(
        self,
        paths: Sequence[Path],
        include: Sequence[str],
        exclude: Sequence[str],
        stored: dict[str, str],
        *,
        max_file_bytes: int,
    ) -> Loaded:
        return Loaded(load_paths(paths, include=include, exclude=exclude, max_file_bytes=max_file_bytes))

    def count_truncated(self, documents: list[list[str]]) -> list[int]:
        return self.embedder.count_truncated(documents)

    @property
    def max_input_tokens(self) -> int | None:
        return self.embedder.max_input_tokens

    @property
    def api_usage(self) -> ApiUsage:
        return self.embedder.api_usage

    def embed(self, pending: list[Pending], budget: int, keep_floats: bool) -> Iterator[list[Embedded]]:
        for batch in batches(pending, budget):
            texts = [item.texts for item in batch]
            yield list(zip(batch, embed_or_refuse(self.embedder, texts, keep_floats), strict=True))


class SlicedStage(LocalStage):
    """``LocalStage`` that embeds each write batch in slices of about ``slice_tokens`` (whole documents),
    calling ``before_slice`` before each and ``after_slice`` with each slice's documents after it: the API's
    background jobs wait in ``before_slice`` while searches are in flight (``api.priority``), and
    ``rag ingest`` advances its progress bar in ``after_slice``. Writes are the same batches as
    ``LocalStage``'s."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        slice_tokens: int,
        before_slice: Callable[[], None] | None = None,
        after_slice: Callable[[list[Pending]], None] | None = None,
    ) -> None:
        super().__init__(embedder)
        self.slice_tokens = slice_tokens
        self.before_slice = before_slice or (lambda: None)
        self.after_slice = after_slice or (lambda _: None)

    def embed(self, pending: list[Pending], budget: int, keep_floats: bool) -> Iterator[list[Embedded]]:
        for batch in batches(pending, budget):
            rows: list[Embeddings | str] = []
            for part in batches(batch, self.slice_tokens):
                self.before_slice()
                rows += embed_or_refuse(self.embedder, [item.texts for item in part], keep_floats)
                self.after_slice(part)
            yield list(zip(batch, rows, strict=True))


def embed_or_refuse(
    embedder: Embedder, documents: list[list[str]], keep_floats: bool
) -> list[Embeddings | str]:
    """Each document's vectors. When the embedder refuses the batch's input (e.g. a chunk holding the
    context model's separator), the documents go one by one and a refused one gets the reason instead."""
    try:
        return list(embedder.embed_documents(documents, with_floats=keep_floats))
    except InvalidInputError:
        pass
    embedded: list[Embeddings | str] = []
    for texts in documents:
        try:
            [rows] = embedder.embed_documents([texts], with_floats=keep_floats)
        except InvalidInputError as exc:
            embedded.append(exc.message)
            continue
        embedded.append(rows)
    return embedded


def is_address(value: str) -> bool:
    """Whether a value after ``--ray`` is a Ray cluster address (``auto``, ``local``, ``ray://...``,
    ``host:port``) rather than a path to ingest."""
    return value in ("auto", "local") or "://" in value or bool(_HOST_PORT.match(value))

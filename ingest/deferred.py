"""Runs that may not need the model: an unchanged folder is skipped without loading it.

Loading a document model takes seconds (~15 s for pplx-embed on CPU), and a re-run over unchanged files
embeds nothing. So the command line first runs the pipeline with ``StoredStage``: the embedder
fingerprint the collection was built with, stood in for the model. Planning compares content and settings
hashes as always; when something must be embedded, ``embed`` raises ``ModelNeeded`` before anything is
written (the pipeline writes nothing before its first embedded batch), and the caller loads the model and
runs again. The stand-in is used only when the configured models could have built the collection
(``stored_fingerprint``: names, and any revision, width, document mode and chunk sizes that were set);
otherwise the model loads first, as before, and the real run reports any mismatch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ingest.loaders import load_paths
from ingest.pending import Pending
from ingest.stages import Embedded, Loaded
from ingest.summary import IngestOptions
from rag.embedding.base import ApiUsage
from rag.embedding.factory import model_name
from rag.errors import CollectionNotFoundError
from rag.fingerprint import CollectionFingerprint, EmbedderFingerprint
from rag.settings import Settings
from rag.store import Library


class ModelNeeded(Exception):  # noqa: N818 - a signal between two runs, never shown to anyone
    """A document must be embedded: load the model and run again (nothing was written)."""


class StoredStage:
    """An embedding stage with the stored fingerprint and no model."""

    def __init__(self, fingerprint: EmbedderFingerprint) -> None:
        self._fingerprint = fingerprint

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return self._fingerprint

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

    def embed(self, pending: list[Pending], budget: int, keep_floats: bool) -> Iterator[list[Embedded]]:
        if pending:
            raise ModelNeeded(f"{len(pending)} documents to embed")
        yield from ()

    def count_truncated(self, documents: list[list[str]]) -> list[int]:
        return [0 for _ in documents]

    @property
    def api_usage(self) -> ApiUsage:
        return ApiUsage()

    @property
    def max_input_tokens(self) -> int | None:
        return None  # no model: the chunk sizes are the stored chunker's (``stored_fingerprint``)


def stored_fingerprint(
    library: Library, collection: str, settings: Settings, options: IngestOptions
) -> tuple[EmbedderFingerprint, IngestOptions] | None:
    """The collection's embedder fingerprint and options with its chunker, when the configured models
    could have built it; None when it does not exist or something configured differs."""
    try:
        stored = library.open_collection(collection).fingerprint
    except CollectionNotFoundError:
        return None
    if not _same_models(stored.embedder, settings) or not _same_chunker(stored, settings):
        return None
    return stored.embedder, replace(options.for_collection(stored, {}), keep_floats=options.keep_floats)


def _same_models(stored: EmbedderFingerprint, settings: Settings) -> bool:
    given = (
        (model_name(settings.doc_model), stored.doc_model),
        (model_name(settings.query_model), stored.query_model),
        (settings.doc_model_revision, stored.doc_revision),
        (settings.query_model_revision, stored.query_revision),
        (settings.dimensions, stored.dimensions),
        (None if settings.document_mode == "auto" else settings.document_mode, stored.document_mode),
    )
    return all(configured is None or configured == built for configured, built in given)


def _same_chunker(stored: CollectionFingerprint, settings: Settings) -> bool:
    chunker = stored.chunker
    if chunker is None:
        return False
    chosen = settings.model_fields_set
    return (
        chunker.encoding == settings.tiktoken_encoding
        and ("chunk_max_tokens" not in chosen or chunker.max_tokens == settings.chunk_max_tokens)
        and ("chunk_target_tokens" not in chosen or chunker.target_tokens == settings.chunk_target_tokens)
    )

"""What loaders produce: source documents, and the files they could not read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceDocument:
    """A document before chunking.

    ``id``: the caller's id (JSON Lines) or the file's path relative to the ingested root.
    ``source``: where it came from as users see it: the file's path relative to the ingested folder (its
    name when the file itself was ingested), or the upload's name.
    ``root``: the absolute folder ``source`` is relative to, for ``--sync`` (None for uploads).
    ``pages``: ``(page_number, char_start)`` pairs in order, where the format has pages (PDF).
    """

    id: str
    text: str
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    pages: list[tuple[int, int]] = field(default_factory=list)
    root: str | None = None


@dataclass(frozen=True)
class LoadFailure:
    """A file (or a line of one) that could not be read, and why. ``source`` is the absolute path when
    known, so that ``--sync`` never deletes what merely failed to load."""

    name: str
    reason: str
    source: str | None = None


@dataclass
class LoadResult:
    """Documents read, and failures (the run goes on past them)."""

    documents: list[SourceDocument] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.documents += other.documents
        self.failures += other.failures


class UnreadableError(Exception):
    """Raised by a format parser for a file it cannot read; the message is the reason shown to users."""

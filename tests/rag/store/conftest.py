"""Fixtures of the store tests: a library in a temporary folder, the hash embedder, document builders."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.embedding.fake import HashEmbedder
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint
from rag.store import Collection, Library
from rag.types import ChunkRecord, DocumentRecord, Embeddings

Item = tuple[DocumentRecord, list[ChunkRecord], Embeddings]
MakeItem = Callable[..., Item]
FINGERPRINT_CHUNKER = ChunkerFingerprint("sentences", 0, 0, 0)


def split_sentences(text: str) -> list[ChunkRecord]:
    """One chunk per sentence, with exact character spans."""
    chunks: list[ChunkRecord] = []
    for match in re.finditer(r"[^.]+\.?", text):
        if match.group().strip():
            start, end = match.span()
            chunks.append(ChunkRecord(len(chunks), text[start:end], start, end, len(match.group().split())))
    return chunks


def build_item(
    embedder: HashEmbedder,
    doc_id: str,
    text: str,
    metadata: dict[str, Any] | None = None,
    *,
    floats: bool = False,
) -> Item:
    chunks = split_sentences(text)
    (embeddings,) = embedder.embed_documents([[c.text for c in chunks]], with_floats=floats)
    record = DocumentRecord(
        id=doc_id,
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        source=f"file://{doc_id}.txt",
        title=f"Title {doc_id}",
        metadata=metadata or {},
    )
    return record, chunks, embeddings


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder(64)


@pytest.fixture
def make_item(embedder: HashEmbedder) -> MakeItem:
    def make(doc_id: str, text: str, metadata: dict[str, Any] | None = None, *, floats: bool = False) -> Item:
        return build_item(embedder, doc_id, text, metadata, floats=floats)

    return make


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library(tmp_path / "data", lock_timeout=0.5)
    yield lib
    lib.close()


@pytest.fixture
def collection(library: Library, embedder: HashEmbedder) -> Collection:
    fingerprint = CollectionFingerprint(embedder.fingerprint, FINGERPRINT_CHUNKER)
    return library.create_collection("docs", fingerprint=fingerprint)

"""``SlicedStage``: each write batch embedded in slices of whole documents, with a hook before and after
each (the API's query priority; ``rag ingest``'s progress bar, which so moves every few documents instead
of once per ~70-document write batch, issue 15.18). The writes and the stored vectors are the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.cli.ingest_cmd import _Bar
from ingest.loaders import SourceDocument
from ingest.pending import Pending
from ingest.pipeline import DocumentOutcome, IngestOptions, Ingestor, IngestProgress, Outcome, SlicedStage
from rag.embedding.fake import HashEmbedder
from rag.store import Library
from rag.types import ChunkRecord, DocumentRecord

DOCUMENTS = [SourceDocument(id=f"d{i}", text=f"document {i} " + "word " * 50) for i in range(5)]


def test_slices_are_whole_documents_with_hooks_around_each(tmp_path: Path) -> None:
    events: list[str] = []
    embedded: list[list[str]] = []

    def after(part: list[Pending]) -> None:
        embedded.append([item.record.id for item in part])
        events.append("after")

    stage = SlicedStage(
        HashEmbedder(16), slice_tokens=1, before_slice=lambda: events.append("before"), after_slice=after
    )
    progress: list[IngestProgress] = []
    library = Library(tmp_path / "sliced")
    summary = Ingestor(library, stage, IngestOptions()).ingest(
        DOCUMENTS, collection="c", progress=progress.append
    )
    assert summary.added == 5
    assert embedded == [[f"d{i}"] for i in range(5)]  # one document per slice, in order
    assert events == ["before", "after"] * 5
    assert len(progress) == 2  # one write batch: the bar's steps come from the slices
    plain = Library(tmp_path / "plain")
    Ingestor(plain, HashEmbedder(16), IngestOptions()).ingest(DOCUMENTS, collection="c")
    for doc_id in ("d0", "d4"):
        sliced_chunks = library.open_collection("c").get_chunks(doc_id)
        plain_chunks = plain.open_collection("c").get_chunks(doc_id)
        assert [c.text for c in sliced_chunks] == [c.text for c in plain_chunks]
    library.close()
    plain.close()


def test_the_bar_advances_per_slice_between_pipeline_events() -> None:
    bar = _Bar(None)
    bar(IngestProgress(0, 5, 0, 0, 500))
    chunk = ChunkRecord(ordinal=0, text="t", char_start=0, char_end=1, token_count=50)
    record = DocumentRecord(id="d", text="t", content_hash="h")
    pending = Pending(record, [chunk, chunk], 100, DocumentOutcome("d", Outcome.ADDED))
    bar.embedded([pending])
    bar.embedded([pending])
    assert bar.last == IngestProgress(2, 5, 4, 200, 500)
    assert np.isclose(bar.last.tokens_done / bar.last.tokens_total, 0.4)

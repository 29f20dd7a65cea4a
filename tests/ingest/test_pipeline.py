from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ingest.loaders import SourceDocument
from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.fake import HashEmbedder
from rag.errors import ConfigError, EmbeddingError, FingerprintMismatchError, SeparatorInChunkError
from rag.store import Library
from rag.types import Embeddings

OPTIONS = IngestOptions(target_tokens=16, max_tokens=24, batch_tokens=64)


class RecordingEmbedder(HashEmbedder):
    """HashEmbedder that records each call, and can fail on the n-th one (a crash mid-run)."""

    def __init__(self, *, fail_on_call: int | None = None) -> None:
        super().__init__(32)
        self.calls: list[tuple[list[list[str]], bool]] = []
        self.fail_on_call = fail_on_call

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        self.calls.append(([list(d) for d in documents], with_floats))
        if self.fail_on_call == len(self.calls):
            raise EmbeddingError("simulated crash")
        return super().embed_documents(documents, with_floats=with_floats)


def doc(doc_id: str, text: str, source: str | None = None, **metadata: object) -> SourceDocument:
    return SourceDocument(id=doc_id, text=text, title=doc_id.upper(), source=source, metadata=dict(metadata))


def corpus() -> list[SourceDocument]:
    return [
        doc("a", "Apples grow on trees. " * 12, "/data/fruit/a.txt", kind="fruit"),
        doc("b", "Bananas are yellow and curved. " * 3, "/data/fruit/b.txt", kind="fruit"),
        doc("c", "Carrots are roots.\n\nThey are orange.", "/data/veg/c.txt", kind="veg"),
    ]


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library(tmp_path / "data")
    yield lib
    lib.close()


def test_first_run_adds_every_document_with_exact_chunks(library: Library) -> None:
    embedder = RecordingEmbedder()
    summary = Ingestor(library, embedder, OPTIONS).ingest(corpus(), collection="default")
    assert (summary.added, summary.updated, summary.skipped, summary.failed) == (3, 0, 0, 0)
    collection = library.open_collection("default")
    assert collection.info().documents == 3 and collection.info().chunks == summary.chunks
    for source in corpus():
        chunks = collection.get_chunks(source.id)
        assert chunks and all(source.text[c.char_start : c.char_end] == c.text for c in chunks)
        assert max(c.token_count for c in chunks) <= OPTIONS.max_tokens
    stored = collection.get_document("a")
    assert (stored.title, stored.source, stored.metadata) == ("A", "/data/fruit/a.txt", {"kind": "fruit"})
    assert collection.fingerprint.embedder == embedder.fingerprint
    assert collection.fingerprint.chunker is not None
    assert collection.fingerprint.chunker.max_tokens == 24


def test_each_documents_chunks_are_embedded_together_in_token_batches(library: Library) -> None:
    embedder = RecordingEmbedder()
    Ingestor(library, embedder, OPTIONS).ingest(corpus(), collection="default")
    embedded = [chunks for documents, _ in embedder.calls for chunks in documents]
    assert len(embedded) == 3 and len(embedder.calls) > 1  # "a" alone exceeds the 64-token budget
    assert embedded[2] == ["Carrots are roots.\n\nThey are orange."]


def test_second_run_skips_everything_and_writes_nothing(library: Library) -> None:
    Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(corpus(), collection="default")
    embedder = RecordingEmbedder()
    summary = Ingestor(library, embedder, OPTIONS).ingest(corpus(), collection="default")
    assert (summary.added, summary.updated, summary.skipped, summary.chunks) == (0, 0, 3, 0)
    assert embedder.calls == []
    assert library.open_collection("default").get_document("a").version == 1


def test_a_changed_document_is_re_embedded_whole(library: Library) -> None:
    Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(corpus(), collection="default")
    changed = corpus()
    changed[2] = doc("c", "Carrots are roots.\n\nThey are purple.", "/data/veg/c.txt", kind="veg")
    embedder = RecordingEmbedder()
    summary = Ingestor(library, embedder, OPTIONS).ingest(changed, collection="default")
    assert (summary.added, summary.updated, summary.skipped) == (0, 1, 2)
    assert embedder.calls == [([["Carrots are roots.\n\nThey are purple."]], False)]
    collection = library.open_collection("default")
    assert collection.get_document("c").version == 2
    assert [c.text for c in collection.get_chunks("c")] == ["Carrots are roots.\n\nThey are purple."]


def test_sync_removes_documents_missing_under_the_synced_sources_only(library: Library) -> None:
    Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(corpus(), collection="default")
    remaining = [d for d in corpus() if d.id != "b"]
    summary = Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(
        [remaining[0]], collection="default", sync_sources=["/data/fruit"]
    )
    assert summary.deleted == 1
    assert sorted(library.open_collection("default").document_states()) == ["a", "c"]


def test_a_run_that_crashed_is_finished_by_the_next_without_duplicates(library: Library) -> None:
    with pytest.raises(EmbeddingError):
        Ingestor(library, RecordingEmbedder(fail_on_call=2), OPTIONS).ingest(corpus(), collection="default")
    assert len(library.open_collection("default").document_states()) == 1  # the first batch committed
    summary = Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(corpus(), collection="default")
    assert (summary.added, summary.skipped) == (2, 1)
    info = library.open_collection("default").info()
    expected = Ingestor(Library(library.data_dir / "fresh"), RecordingEmbedder(), OPTIONS).ingest(
        corpus(), collection="default"
    )
    assert (info.documents, info.chunks) == (3, expected.chunks)


def test_dry_run_counts_without_embedding_or_creating(library: Library) -> None:
    embedder = RecordingEmbedder()
    summary = Ingestor(library, embedder, OPTIONS).ingest(corpus(), collection="default", dry_run=True)
    assert (summary.dry_run, summary.added, summary.documents) == (True, 3, 3)
    assert summary.chunks > 3 and summary.tokens > summary.chunks
    assert embedder.calls == [] and library.list_collections() == []


def test_empty_documents_are_listed_not_stored_and_replace_a_stored_version(library: Library) -> None:
    Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(corpus(), collection="default")
    emptied = [*corpus()[:2], doc("c", " \n ", "/data/veg/c.txt"), doc("d", "")]
    summary = Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(emptied, collection="default")
    assert (summary.empty, summary.deleted, summary.skipped) == (["c", "d"], 1, 2)
    assert sorted(library.open_collection("default").document_states()) == ["a", "b"]


def test_duplicate_ids_in_one_run_fail_the_second(library: Library) -> None:
    summary = Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(
        [doc("x", "one"), doc("x", "two")], collection="default"
    )
    assert (summary.added, summary.failed, summary.failures[0].name) == (1, 1, "x")


@pytest.mark.parametrize(
    ("embedder", "options"),
    [(HashEmbedder(64), OPTIONS), (HashEmbedder(32), IngestOptions(target_tokens=16, max_tokens=32))],
)
def test_another_embedder_or_chunker_is_refused(
    library: Library, embedder: HashEmbedder, options: IngestOptions
) -> None:
    Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(corpus(), collection="default")
    with pytest.raises(FingerprintMismatchError):
        Ingestor(library, embedder, options).ingest(corpus(), collection="default")


def test_keep_floats_asks_for_floats_and_is_fixed_at_creation(library: Library) -> None:
    embedder = RecordingEmbedder()
    floats = IngestOptions(target_tokens=16, max_tokens=24, keep_floats=True)
    Ingestor(library, embedder, floats).ingest(corpus(), collection="exact")
    assert embedder.calls[0][1] is True
    assert library.open_collection("exact").settings["keep_floats"] is True
    Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(corpus(), collection="plain")
    with pytest.raises(ConfigError, match="keep_floats"):
        Ingestor(library, RecordingEmbedder(), floats).ingest(corpus(), collection="plain")


def test_unstorable_characters_are_replaced_keeping_offsets(library: Library) -> None:
    Ingestor(library, RecordingEmbedder(), OPTIONS).ingest(
        [doc("s", "bad \ud800 and \x00 end")], collection="default"
    )
    [chunk] = library.open_collection("default").get_chunks("s")
    assert chunk.text == "bad \ufffd and \ufffd end"


def test_ingest_paths_reports_load_failures_and_sync_keeps_their_documents(
    library: Library, tmp_path: Path
) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.txt").write_text("A good file about tea.")
    (root / "later.txt").write_text("A file that later breaks.")
    ingestor = Ingestor(library, RecordingEmbedder(), OPTIONS)
    assert ingestor.ingest_paths([root], collection="default").added == 2
    (root / "later.txt").write_bytes(b"\x00\x01 binary now")
    summary = ingestor.ingest_paths([root], collection="default", sync=True)
    assert (summary.failed, summary.deleted, summary.skipped) == (1, 0, 1)
    assert summary.failures[0].name == str(root / "later.txt")
    (root / "later.txt").unlink()
    assert ingestor.ingest_paths([root], collection="default", sync=True).deleted == 1


class SeparatorRefusingEmbedder(RecordingEmbedder):
    """Refuses any chunk holding ``<|endoftext|>``, as the pplx context model's backend does."""

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        if any("<|endoftext|>" in chunk for chunks in documents for chunk in chunks):
            raise SeparatorInChunkError("chunk 0 contains the separator text '<|endoftext|>'")
        return super().embed_documents(documents, with_floats=with_floats)


@pytest.mark.parametrize("batch_tokens", [1, 10_000])
def test_a_document_the_embedder_refuses_fails_alone(library: Library, batch_tokens: int) -> None:
    documents = [*corpus(), doc("sep", "Text with <|endoftext|> inside.", "/data/sep.txt")]
    options = IngestOptions(target_tokens=16, max_tokens=24, batch_tokens=batch_tokens)
    summary = Ingestor(library, SeparatorRefusingEmbedder(), options).ingest(documents, collection="default")
    assert (summary.added, summary.failed, summary.failures[0].name) == (3, 1, "sep")
    assert "separator" in summary.failures[0].reason
    assert sorted(library.open_collection("default").document_states()) == ["a", "b", "c"]


def test_options_come_from_settings() -> None:
    from rag.settings import Settings

    settings = Settings(chunk_target_tokens=100, chunk_max_tokens=120, max_batch_tokens=4096)
    options = IngestOptions.from_settings(settings, keep_floats=True)
    assert (options.target_tokens, options.max_tokens, options.batch_tokens) == (100, 120, 4096)
    assert (options.encoding, options.keep_floats) == ("cl100k_base", True)

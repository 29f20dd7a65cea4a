"""Sources relative to the ingested folder (or the file's name), and ``--sync`` matching them by root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.loaders import SourceDocument, load_path, location
from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.fake import HashEmbedder
from rag.store import Library
from tests.ingest.cli import json_out, rag

OPTIONS = IngestOptions(target_tokens=16, max_tokens=24)
FAKE = "fake:64"


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library(tmp_path / "data")
    yield lib
    lib.close()


def folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def sources(library: Library) -> dict[str, str | None]:
    return {d.id: d.source for d in library.open_collection("default").list_documents()}


def test_folder_sources_are_relative_and_locations_absolute(tmp_path: Path) -> None:
    root = folder(
        tmp_path / "docs",
        {"a.txt": "Apples.", "sub/b.md": "# B\n\nBananas.", "faq.jsonl": '{"id": "q1", "text": "Why?"}'},
    )
    documents = {d.id: d for d in load_path(root).documents}
    assert {i: d.source for i, d in documents.items()} == {
        "a.txt": "a.txt",
        "sub/b.md": "sub/b.md",
        "q1": "faq.jsonl",
    }
    assert {d.root for d in documents.values()} == {str(root.resolve())}
    assert location(documents["sub/b.md"]) == str(root.resolve() / "sub" / "b.md")
    assert location(SourceDocument("x", "text", source="upload.md")) == "upload.md"


def test_sync_removes_a_deleted_file_and_keeps_the_others_and_other_folders(
    library: Library, tmp_path: Path
) -> None:
    first = folder(tmp_path / "first", {"x.txt": "Xylophones ring.", "y.txt": "Yaks graze."})
    second = folder(tmp_path / "second", {"z.txt": "Zebras run."})
    ingestor = Ingestor(library, HashEmbedder(32), OPTIONS)
    assert ingestor.ingest_paths([first, second], collection="default").added == 3
    assert sources(library) == {"x.txt": "x.txt", "y.txt": "y.txt", "z.txt": "z.txt"}
    (first / "x.txt").unlink()
    assert ingestor.ingest_paths([second], collection="default", sync=True).deleted == 0  # x is not under it
    synced = ingestor.ingest_paths([first], collection="default", sync=True)
    assert (synced.deleted, synced.skipped) == (1, 1)
    assert sorted(sources(library)) == ["y.txt", "z.txt"]


def test_a_single_file_gets_its_name_and_a_later_folder_sync_still_finds_it(
    library: Library, tmp_path: Path
) -> None:
    root = folder(tmp_path / "docs", {"one.txt": "One fish.", "two.txt": "Two fish."})
    ingestor = Ingestor(library, HashEmbedder(32), OPTIONS)
    assert ingestor.ingest_paths([root / "one.txt"], collection="default").added == 1
    assert sources(library) == {"one.txt": "one.txt"}
    (root / "one.txt").unlink()
    synced = ingestor.ingest_paths([root], collection="default", sync=True)
    assert (synced.added, synced.deleted) == (1, 1)
    assert sources(library) == {"two.txt": "two.txt"}


def test_sync_still_removes_documents_stored_with_absolute_sources_before_roots(
    library: Library, tmp_path: Path
) -> None:
    root = folder(tmp_path / "docs", {"kept.txt": "Kept text."})
    legacy = [
        SourceDocument("gone.txt", "Gone text.", source=str(root.resolve() / "gone.txt")),
        SourceDocument("kept.txt", "Kept text.", source=str(root.resolve() / "kept.txt")),
    ]
    ingestor = Ingestor(library, HashEmbedder(32), OPTIONS)
    ingestor.ingest(legacy, collection="default")
    synced = ingestor.ingest_paths([root], collection="default", sync=True)
    assert (synced.deleted, synced.updated) == (1, 1)  # kept.txt is rewritten with its relative source
    assert sources(library) == {"kept.txt": "kept.txt"}


def test_the_cli_syncs_a_folder_and_prints_relative_sources(tmp_path: Path) -> None:
    data = tmp_path / "data"
    root = folder(tmp_path / "docs", {"tea.md": "# Tea\n\nGreen tea.", "sub/coffee.txt": "Espresso shots."})
    assert json_out(rag(data, FAKE, "ingest", str(root), "--json"))["added"] == 2
    (root / "tea.md").unlink()
    synced = json_out(rag(data, FAKE, "ingest", str(root), "--sync", "--json"))
    assert (synced["deleted"], synced["skipped"]) == (1, 1)
    [hit] = json_out(rag(data, FAKE, "search", "espresso", "--json"))
    assert (hit["document_id"], hit["source"]) == ("sub/coffee.txt", "sub/coffee.txt")
    assert str(tmp_path) not in str(hit)

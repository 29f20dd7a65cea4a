"""Two folders into one collection (issue 15.16): a file whose relative path (its id) is held by a document
of another folder is refused with a failure naming both files; nothing is overwritten. Re-ingesting the same
folder updates, a moved folder replaces its old documents, and the other folder's new files are added."""

from __future__ import annotations

from pathlib import Path

from rag.store import Library
from tests.ingest.cli import json_out, rag

FAKE = "fake:32"


def _folder(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def _text(data: Path, doc_id: str) -> str:
    library = Library(data)
    try:
        return " ".join(chunk.text for chunk in library.open_collection("c").get_chunks(doc_id))
    finally:
        library.close()


def test_a_colliding_file_from_another_folder_is_refused_naming_both(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _folder(tmp_path / "first", {"guide/setup.md": "first setup text", "a.md": "only in first"})
    second = _folder(tmp_path / "second", {"guide/setup.md": "second setup text", "b.md": "only in second"})
    assert rag(data, FAKE, "ingest", str(first), "-c", "c").exit_code == 0
    result = rag(data, FAKE, "ingest", str(second), "-c", "c", "--json")
    assert result.exit_code == 1
    summary = json_out(result)
    assert (summary["added"], summary["updated"], summary["failed"]) == (1, 0, 1)
    [failure] = summary["failures"]
    assert failure["name"] == "guide/setup.md"
    assert str(first.resolve() / "guide/setup.md") in failure["reason"]
    assert str(second.resolve() / "guide/setup.md") in failure["reason"]
    assert _text(data, "guide/setup.md") == "first setup text"  # not overwritten
    assert _text(data, "b.md") == "only in second"


def test_re_ingesting_the_same_folder_updates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = _folder(tmp_path / "docs", {"guide.md": "old text"})
    assert rag(data, FAKE, "ingest", str(folder), "-c", "c").exit_code == 0
    (folder / "guide.md").write_text("new text")
    summary = json_out(rag(data, FAKE, "ingest", str(folder), "-c", "c", "--json"))
    assert (summary["updated"], summary["failed"]) == (1, 0)
    assert _text(data, "guide.md") == "new text"


def test_a_moved_folder_replaces_its_old_documents(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = _folder(tmp_path / "docs", {"guide.md": "the text"})
    assert rag(data, FAKE, "ingest", str(folder), "-c", "c").exit_code == 0
    moved = folder.rename(tmp_path / "renamed")
    summary = json_out(rag(data, FAKE, "ingest", str(moved), "-c", "c", "--json"))
    assert (summary["updated"], summary["failed"]) == (1, 0)

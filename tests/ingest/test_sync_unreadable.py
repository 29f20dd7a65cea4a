"""``rag ingest --sync`` never deletes under a folder it could not read; the folder is a named failure
(issue 15.4)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ingest.cli import json_out, rag

FAKE = "fake:64"


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Folders put in the list become unreadable: mode 000, and (root reads any mode) listing them
    raises the PermissionError the kernel gives other users."""
    folders: list[Path] = []
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if any(Path(str(path)) == folder for folder in folders):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    yield folders
    for folder in folders:
        folder.chmod(0o755)


def test_sync_keeps_documents_under_an_unreadable_folder(tmp_path: Path, unreadable: list[Path]) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "top.md").write_text("Top level notes about tea.")
    (docs / "sub" / "inner.md").write_text("Inner notes about coffee.")
    (docs / "gone.md").write_text("This file will be removed.")
    data = tmp_path / "data"
    assert json_out(rag(data, FAKE, "ingest", str(docs), "--sync", "--json"))["added"] == 3
    (docs / "gone.md").unlink()
    (docs / "sub").chmod(0)
    unreadable.append(docs / "sub")
    result = rag(data, FAKE, "ingest", str(docs), "--sync", "--json")
    assert result.exit_code == 1
    summary = json_out(result)
    assert summary["deleted"] == 1  # gone.md; nothing under sub/
    [failure] = [f for f in summary["failures"] if "sub" in f["name"]]
    assert failure["reason"] == "cannot read folder: Permission denied"
    listed = rag(data, FAKE, "search", "coffee", "--mode", "bm25", "--json")
    assert [hit["document_id"] for hit in json_out(listed)] == ["sub/inner.md"]

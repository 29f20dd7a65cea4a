"""A run with nothing to embed does not load the model (issue 15.18): the stored hashes are compared
first, with the collection's own fingerprint standing in for the model; the model loads only when a
document must be embedded, and the outcome is the same as a run with the model."""

from __future__ import annotations

from pathlib import Path

import pytest

import ingest.cli.ingest_cmd as ingest_cmd
from rag.embedding.base import Embedder
from rag.embedding.factory import load_embedder_from_settings
from rag.errors import FingerprintMismatchError
from rag.settings import Settings
from tests.ingest.cli import json_out, rag

FAKE = "fake:32"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models ``rag ingest`` loads, in order (the real loader still runs)."""
    loaded: list[str] = []
    real = load_embedder_from_settings

    def counting(settings: Settings) -> Embedder:
        loaded.append(settings.doc_model)
        return real(settings)

    monkeypatch.setattr(ingest_cmd, "load_embedder_from_settings", counting)
    return loaded


def _ingest(data: Path, folder: Path, *extra: str, model: str = FAKE) -> dict[str, int]:
    result = rag(data, model, "ingest", str(folder), "-c", "c", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    summary: dict[str, int] = json_out(result)
    return summary


def test_an_unchanged_run_loads_no_model_and_a_changed_one_does(tmp_path: Path, loads: list[str]) -> None:
    data, folder = tmp_path / "data", tmp_path / "docs"
    folder.mkdir()
    for index in range(3):
        (folder / f"{index}.md").write_text(f"document number {index}")
    assert _ingest(data, folder)["added"] == 3 and loads == [FAKE]  # a new collection needs the model

    again = _ingest(data, folder)
    assert (again["skipped"], again["added"], again["updated"]) == (3, 0, 0)
    assert loads == [FAKE]  # not loaded again

    (folder / "0.md").unlink()
    synced = _ingest(data, folder, "--sync")  # deleting needs no model either
    assert (synced["deleted"], synced["skipped"]) == (1, 2) and loads == [FAKE]

    (folder / "1.md").write_text("changed text")
    changed = _ingest(data, folder)
    assert (changed["updated"], changed["skipped"]) == (1, 1)
    assert loads == [FAKE, FAKE]


def test_other_configured_models_load_as_before(tmp_path: Path, loads: list[str]) -> None:
    """A model the collection was not built with is loaded, and the real run reports the mismatch."""
    data, folder = tmp_path / "data", tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("some text")
    _ingest(data, folder)
    with pytest.raises(FingerprintMismatchError):
        rag(data, "fake:16", "ingest", str(folder), "-c", "c")
    assert loads == [FAKE, "fake:16"]

"""Closing the service while its indexes are still warming: the library stays open until the warming
thread is done with it (closing the SQLite connections under a refresh crashed ``rag mcp`` at exit)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from api.state import AppState, warm_indexes
from rag.embedding.fake import HashEmbedder
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint
from rag.settings import Settings
from rag.store import Collection, Library


def _library_with(tmp_path: Path, names: list[str]) -> None:
    fingerprint = CollectionFingerprint(HashEmbedder(16).fingerprint, ChunkerFingerprint("test", 1, 1, 1))
    library = Library(tmp_path)
    try:
        for name in names:
            library.create_collection(name, fingerprint=fingerprint)
    finally:
        library.close()


def test_close_waits_for_the_collection_being_warmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _library_with(tmp_path, ["a"])
    entered, release = threading.Event(), threading.Event()
    closed_while_warming: list[bool] = []
    real_load = Collection.load_index

    def slow_load(self: Collection) -> None:
        entered.set()
        release.wait(10)
        closed_while_warming.append(self._closed)  # the library closes its collections
        real_load(self)

    monkeypatch.setattr(Collection, "load_index", slow_load)
    state = AppState(Settings(data_dir=tmp_path), embedder=HashEmbedder(16))

    async def run() -> None:
        await state.start()
        await asyncio.to_thread(entered.wait, 10)
        closing = asyncio.create_task(state.close())
        await asyncio.sleep(0.2)
        assert not closing.done()  # close waits for the warming thread...
        release.set()
        await closing  # ...and finishes once it is done

    asyncio.run(run())
    assert closed_while_warming == [False]


def test_warming_stops_before_the_next_collection_once_asked(tmp_path: Path) -> None:
    _library_with(tmp_path, ["a", "b"])
    library = Library(tmp_path)
    try:
        stop = threading.Event()
        stop.set()
        warm_indexes(library, stop)
        # nothing was refreshed: each state is still at its initial generation
        assert all(library.open_collection(name)._vectors.generation == -1 for name in ("a", "b"))
    finally:
        library.close()

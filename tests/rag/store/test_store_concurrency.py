"""One writer at a time across processes; readers never block and see commits made elsewhere."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.embedding.fake import HashEmbedder
from rag.errors import StoreLockedError
from rag.search import Searcher
from rag.store import Collection, Library
from tests.rag.store.conftest import MakeItem

REPO = Path(__file__).resolve().parents[3]

READER = """
import sys
from rag.embedding.fake import HashEmbedder
from rag.search import Searcher
from rag.store import Library
collection = Library(sys.argv[1]).open_collection("docs")
searcher = Searcher(collection, HashEmbedder(64))
print("ready", flush=True)
for line in sys.stdin:
    hits = searcher.search(line.strip(), top_k=5, mode=sys.argv[2]).hits
    print(",".join(sorted({h.document_id for h in hits})), flush=True)
"""


def _child(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )


def test_second_writer_gets_store_locked_error_and_readers_go_on(
    collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    collection.upsert_documents([make_item("a", "Cats purr.")])
    holder = _child(
        "-c",
        "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\nsys.stdin.readline()",
        str(collection.directory / "write.lock"),
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(StoreLockedError, match="Another writer holds 'docs'"):
            collection.upsert_documents([make_item("b", "Dogs bark.")])
        assert 0.4 < time.monotonic() - started < 5  # the bounded wait (lock_timeout=0.5)
        with pytest.raises(StoreLockedError):
            collection.delete_documents(["a"])
        assert [h.document_id for h in Searcher(collection, embedder).search("cats").hits] == ["a"]
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait()
        holder.stdout.close()
    collection.upsert_documents([make_item("b", "Dogs bark.")])
    assert collection.info().documents == 2


def test_a_waiting_writer_proceeds_when_the_lock_frees(
    tmp_path: Path, collection: Collection, make_item: MakeItem
) -> None:
    path = collection.directory / "write.lock"
    handle = open(path, "a")  # released by the timer thread
    fcntl.flock(handle, fcntl.LOCK_EX)
    threading.Timer(0.2, handle.close).start()  # closing drops the flock
    patient = Library(tmp_path / "data", lock_timeout=5).open_collection("docs")
    patient.upsert_documents([make_item("a", "Cats purr.")])
    assert patient.get_document("a").version == 1


def test_threads_writing_in_one_process_are_serialised(collection: Collection, make_item: MakeItem) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(5):
                collection.upsert_documents([make_item(f"t{n}-{i}", f"Thread {n} writes {i}.")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert collection.info().documents == 15


@pytest.mark.parametrize("mode", ["binary+int8", "bm25"])
def test_a_reader_in_another_process_sees_new_commits(
    collection: Collection, make_item: MakeItem, mode: str
) -> None:
    collection.upsert_documents([make_item("a", "Cats purr softly.")])
    reader = _child("-c", READER, str(collection.directory.parents[1]), mode)
    assert reader.stdout is not None and reader.stdin is not None

    def ask(query: str) -> str:
        assert reader.stdin is not None and reader.stdout is not None
        reader.stdin.write(query + "\n")
        reader.stdin.flush()
        return reader.stdout.readline().strip()

    try:
        assert reader.stdout.readline().strip() == "ready"
        assert ask("cats purr") == "a"
        collection.upsert_documents([make_item("b", "Owls hoot at night.")])
        collection.delete_documents(["a"])
        assert ask("owls hoot night") == "b"
        assert "a" not in ask("cats purr softly").split(",")
        collection.upsert_documents([make_item("a", "Cats purr softly again.")])
        assert "a" in ask("cats purr softly").split(",")
    finally:
        reader.stdin.close()
        reader.wait()
        reader.stdout.close()


def test_searches_in_threads_while_a_thread_writes(
    collection: Collection, embedder: HashEmbedder, make_item: MakeItem
) -> None:
    collection.upsert_documents(
        [make_item(f"base{i}", f"Base text {i} about stable things.") for i in range(20)]
    )
    searcher = Searcher(collection, embedder)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen_counts: list[int] = []

    def search() -> None:
        try:
            while not stop.is_set():
                for mode in ("binary+int8", "int8-exact", "hybrid"):
                    hits = searcher.search("stable things", top_k=50, mode=mode).hits
                    assert all(h.document_id.startswith(("base", "new")) for h in hits)
                    seen_counts.append(len(hits))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=search) for _ in range(3)]
    for reader in readers:
        reader.start()
    for i in range(15):
        collection.upsert_documents([make_item(f"new{i}", f"New text {i} about stable things.")])
        collection.delete_documents([f"base{i}"])
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []
    assert seen_counts
    final = searcher.search("stable things", top_k=50, mode="int8-exact").hits
    assert sorted(h.document_id for h in final) == sorted(
        [f"base{i}" for i in range(15, 20)] + [f"new{i}" for i in range(15)]
    )

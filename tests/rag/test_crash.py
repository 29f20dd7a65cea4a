"""kill -9 at random moments of a writing child: the collection opens, answers, and holds exactly the
documents whose write committed, each one whole (SQLite, FTS and the vector index agree)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rag.embedding.fake import HashEmbedder
from rag.search import Searcher
from rag.store import Collection, Library

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]
State = dict[str, dict[str, Any]]  # doc id -> the upsert operation that wrote it


def _run_child(data: Path, log: Path, first: int, seed: int, rng: random.Random) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(data), str(log), str(first), str(seed)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    time.sleep(rng.uniform(0.0, 0.25))
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()


def _replay(state: State, log: Path) -> tuple[State, State, int]:
    """(state after the logged ``done`` ops, state if the pending op also committed, next op number)."""
    done, pending, last = dict(state), None, -1
    for line in log.read_text().splitlines():
        entry = json.loads(line)  # a line cut by the kill has no newline yet: every line read is whole
        if "begin" in entry:
            pending = entry["begin"]
        else:
            _apply(done, pending)
            last, pending = entry["done"], None
    with_pending = dict(done)
    if pending is not None:
        _apply(with_pending, pending)
        last = pending["i"]
    return done, with_pending, last + 1


def _apply(state: State, op: dict[str, Any] | None) -> None:
    assert op is not None
    if op["op"] == "upsert":
        state[op["id"]] = op
    else:
        state.pop(op["id"], None)


def _stored(collection: Collection) -> State:
    documents = collection.list_documents(limit=1000)
    return {d.id: {"i": d.metadata["i"], "chunks": d.chunk_count} for d in documents}


def _check_whole(collection: Collection, embedder: HashEmbedder, db: Path) -> None:
    searcher = Searcher(collection, embedder)
    for doc in collection.list_documents(limit=1000):
        chunks = collection.get_chunks(doc.id)
        assert len(chunks) == doc.chunk_count
        dense = searcher.search(chunks[0].text, top_k=50, mode="int8-exact", filter={"doc": doc.id}).hits
        assert sorted(h.chunk_index for h in dense) == list(range(doc.chunk_count))
        token = f"token{doc.id}v{doc.metadata['i']}"
        lexical = searcher.search(token, top_k=50, mode="bm25").hits  # the derived lexical index
        assert sorted(h.chunk_index for h in lexical) == list(range(doc.chunk_count))
        assert {h.document_id for h in lexical} == {doc.id}
        with collection.reading() as view:  # and SQLite's own FTS5 postings, written in the same transaction
            fts5 = view.bm25_fts5(token, top_k=50, filter=None)
        assert sorted(i for i, _ in fts5) == sorted(h.chunk_id for h in lexical)
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        total = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        conn.close()
    everything = searcher.search("x", top_k=10_000, mode="int8-exact").hits
    assert len(everything) == total


@pytest.mark.parametrize("trials", [20, pytest.param(150, marks=pytest.mark.slow)])
def test_kill_9_during_writes_never_exposes_a_partial_document(tmp_path: Path, trials: int) -> None:
    rng = random.Random(7)
    embedder = HashEmbedder(64)
    data, log = tmp_path / "data", tmp_path / "ops.log"
    state: State = {}
    first = 0
    commits = 0
    for trial in range(trials):
        log.write_text("")
        _run_child(data, log, first, trial, rng)
        done, with_pending, first = _replay(state, log)
        library = Library(data)
        collection = library.open_collection("crash")
        stored = _stored(collection)
        expected = [
            {k: {"i": v["i"], "chunks": v["chunks"]} for k, v in s.items()} for s in (done, with_pending)
        ]
        assert stored in expected, f"trial {trial}: stored state matches neither side of the pending write"
        _check_whole(collection, embedder, collection.directory / "collection.db")
        commits += sum(1 for line in log.read_text().splitlines() if '"done"' in line)
        state = done if stored == expected[0] else with_pending
        library.close()
    assert commits > trials  # the kills landed among many writes, not before the first one

"""Compaction of the vector row files: replaced and deleted chunks leave dead rows behind; this rewrites
the live rows into files of the next vector generation and repoints ``chunks.vector_row`` in one commit.

Crash safety: the new files are written and fsynced before the transaction that switches
``vector_generation``; a kill before that commit leaves stray new-generation files (removed by the next
compaction) and the old generation in use. The previous generation's files are kept until the next
compaction, so a reader in another process that still maps them (or is about to) never loses them.
Chunk ids do not change: only rows move.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from rag.store import writes
from rag.store.committed import Committed
from rag.store.rows import RowFiles
from rag.types import Embeddings

_BLOCK = 65536


def compact(conn: sqlite3.Connection, directory: Path, committed: Committed) -> int:
    """Rewrite the live rows (inside the caller's write transaction); returns the dead rows reclaimed."""
    pairs = np.array(conn.execute("SELECT id, vector_row FROM chunks ORDER BY id").fetchall(), dtype=np.int64)
    pairs = pairs.reshape(-1, 2)
    if committed.dimensions == 0 or len(pairs) == committed.rows:
        return 0
    target = committed.vector_generation + 1
    _remove_generations(directory, keep={committed.vector_generation - 1, committed.vector_generation})
    old = committed.files(directory).views(committed.rows)
    new = RowFiles(directory, target, committed.dimensions, keep_floats=committed.keep_floats)
    for start in range(0, len(pairs), _BLOCK):
        rows = pairs[start : start + _BLOCK, 1]
        floats = None if old.floats is None else np.asarray(old.floats[rows])
        new.append(start, Embeddings(np.asarray(old.int8[rows]), np.asarray(old.bits[rows]), floats))
    conn.executemany(
        "UPDATE chunks SET vector_row = ? WHERE id = ?",
        ((position, int(chunk_id)) for position, chunk_id in enumerate(pairs[:, 0].tolist())),
    )
    writes.write_meta(
        conn,
        {"vector_generation": target, "rows_committed": len(pairs), "generation": committed.generation + 1},
    )
    return committed.rows - len(pairs)


def _remove_generations(directory: Path, *, keep: set[int]) -> None:
    """Delete row files of every vector generation not in ``keep`` (stale or from a crashed compaction)."""
    for path in directory.glob("vectors-*.*"):
        generation = path.name.split("-", 1)[1].split(".", 1)[0]
        if generation.isdigit() and int(generation) not in keep:
            path.unlink(missing_ok=True)

"""The binary index snapshot: a derived file that lets ``open`` skip re-adding every code.

Layout: 8-byte little-endian header length, a JSON header (generation, layout), the faiss index bytes, then
the ``id_to_row`` map as int64. Written to a temporary file, fsynced, then ``os.replace``d over the old
one, so a reader finds either the old or the new snapshot, never a torn one. A snapshot from another
layout, a torn or unreadable file, or one newer than what SQLite committed is ignored (rebuild instead).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CorruptStoreError
from rag.index import BinaryIndex
from rag.store.committed import Committed
from rag.store.rows import fsync_directory

FILENAME = "index.snapshot"
_HEADER_BYTES = 8


def save(
    directory: Path, generation: int, layout: tuple[Any, ...], index: BinaryIndex, id_to_row: Any
) -> None:
    data = index.to_bytes()
    id_bytes = np.ascontiguousarray(id_to_row, dtype=np.int64).tobytes()
    header = json.dumps(
        {
            "generation": generation,
            "layout": list(layout),
            "index_bytes": int(data.nbytes),
            "map_bytes": len(id_bytes),
        }
    ).encode()
    temporary = directory / f"{FILENAME}.tmp-{os.getpid()}"
    with open(temporary, "wb") as handle:
        handle.write(len(header).to_bytes(_HEADER_BYTES, "little"))
        handle.write(header)
        handle.write(data.tobytes())
        handle.write(id_bytes)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / FILENAME)
    fsync_directory(directory)


def load(directory: Path, committed: Committed) -> tuple[int, BinaryIndex, np.ndarray] | None:
    """(generation, index, id_to_row) from the snapshot, or None when it is absent or does not fit."""
    path = directory / FILENAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        size = int.from_bytes(raw[:_HEADER_BYTES], "little")
        header = json.loads(raw[_HEADER_BYTES : _HEADER_BYTES + size])
        start = _HEADER_BYTES + size
        end = start + int(header["index_bytes"])
        if header["layout"] != list(committed.layout()) or int(header["generation"]) > committed.generation:
            return None
        if len(raw) != end + int(header["map_bytes"]):
            return None
        index = BinaryIndex.from_bytes(
            np.frombuffer(raw, dtype=np.uint8, count=end - start, offset=start),
            kind=committed.index_kind,
            nlist=committed.nlist,
            nprobe=committed.nprobe,
        )
        id_to_row = np.frombuffer(raw, dtype=np.int64, offset=end).copy()
    except (ValueError, KeyError, TypeError, CorruptStoreError):
        return None
    return int(header["generation"]), index, id_to_row

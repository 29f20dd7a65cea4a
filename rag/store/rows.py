"""Append-only vector row files beside the database: int8 (d B), sign bits (d/8 B), float32 (4d B, optional).

Row r of every file belongs to the same chunk (``chunks.vector_row``). Only the first ``rows_committed`` rows
(a value SQLite commits) are valid; a longer file holds the tail of a write that crashed before its commit,
and the next writer truncates it. Readers map exactly the committed prefix, so a truncation never touches
pages they can see. File names carry a generation so compaction can write new files beside the old ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import CorruptStoreError
from rag.types import Embeddings

_KINDS = {"int8": (np.int8, 1), "bits": (np.uint8, 0), "f32": (np.float32, 4)}


@dataclass(frozen=True)
class RowViews:
    """Read-only views of the committed rows (memory-mapped; empty arrays when there are none)."""

    int8: np.ndarray
    bits: np.ndarray
    floats: np.ndarray | None

    def __len__(self) -> int:
        return int(self.int8.shape[0])


class RowFiles:
    """The row files of one vector generation."""

    def __init__(self, directory: Path, generation: int, dimensions: int, *, keep_floats: bool) -> None:
        self.directory = directory
        self.generation = generation
        self.dimensions = dimensions
        self.keep_floats = keep_floats

    def kinds(self) -> list[str]:
        return ["int8", "bits", "f32"] if self.keep_floats else ["int8", "bits"]

    def path(self, kind: str) -> Path:
        return self.directory / f"vectors-{self.generation}.{kind}"

    def width(self, kind: str) -> int:
        """Bytes per row in the file of ``kind``."""
        _, scale = _KINDS[kind]
        return self.dimensions // 8 if kind == "bits" else self.dimensions * scale

    def truncate(self, rows: int) -> None:
        """Cut every file back to ``rows`` rows (drops an uncommitted tail; never shortens committed rows)."""
        for kind in self.kinds():
            path = self.path(kind)
            if path.exists() and path.stat().st_size > rows * self.width(kind):
                with open(path, "r+b") as handle:
                    handle.truncate(rows * self.width(kind))
                    os.fsync(handle.fileno())

    def append(self, start_row: int, embeddings: Embeddings) -> None:
        """Write ``embeddings`` at row ``start_row`` of each file and fsync, before SQLite refers to them."""
        arrays = {"int8": embeddings.int8, "bits": embeddings.bits, "f32": embeddings.floats}
        created = False
        for kind in self.kinds():
            data = arrays[kind]
            if data is None:
                raise ValueError("float rows are required when the collection keeps floats.")
            path = self.path(kind)
            created = created or not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                dtype, _ = _KINDS[kind]
                os.pwrite(fd, np.ascontiguousarray(data, dtype=dtype).tobytes(), start_row * self.width(kind))
                os.fsync(fd)
            finally:
                os.close(fd)
        if created:
            fsync_directory(self.directory)

    def views(self, rows: int) -> RowViews:
        """Memory-mapped views of rows [0, rows)."""
        int8 = self._map("int8", rows)
        bits = self._map("bits", rows)
        floats = self._map("f32", rows) if self.keep_floats else None
        return RowViews(int8, bits, floats)

    def _map(self, kind: str, rows: int) -> np.ndarray:
        dtype, _ = _KINDS[kind]
        columns = self.dimensions // 8 if kind == "bits" else self.dimensions
        if rows == 0:
            return np.empty((0, columns), dtype=dtype)
        try:
            return np.memmap(self.path(kind), dtype=dtype, mode="r", shape=(rows, columns))
        except (OSError, ValueError) as exc:  # missing or shorter than the rows SQLite committed
            raise CorruptStoreError(
                f"The vector file {self.path(kind).name} in {self.directory} cannot hold the {rows} "
                f"committed rows ({exc}); restore the folder from a backup or re-ingest the collection."
            ) from exc


def fsync_directory(directory: Path) -> None:
    """Make a file creation or rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

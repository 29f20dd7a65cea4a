"""What a read transaction sees of a collection's vector bookkeeping (the ``meta`` table).

Its own module so that the vector state (``vectors``), the index snapshot (``snapshot``), compaction and
the argument checks all read one definition without importing each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rag.coarse_index import AUTO_MIN_CHUNKS, DEFAULT_RECALL_TARGET
from rag.store.rows import RowFiles


@dataclass(frozen=True)
class Committed:
    """What a read transaction sees of the vector bookkeeping (the ``meta`` table)."""

    generation: int
    rows: int
    vector_generation: int
    pruned_through: int
    dimensions: int
    keep_floats: bool
    index_kind: str
    nlist: int
    nprobe: int  # 0: the index's own (an ``auto`` collection's calibrated nprobe)
    auto_min_chunks: int = AUTO_MIN_CHUNKS
    recall_target: float = DEFAULT_RECALL_TARGET

    def files(self, directory: Path) -> RowFiles:
        return RowFiles(directory, self.vector_generation, self.dimensions, keep_floats=self.keep_floats)

    def layout(self) -> tuple[int, int, bool, str, int]:
        """Everything that, when it changes, forces a rebuild rather than a catch-up (not nprobe: a search
        parameter)."""
        return (self.vector_generation, self.dimensions, self.keep_floats, self.index_kind, self.nlist)


def committed_from(meta: dict[str, str]) -> Committed:
    """The vector bookkeeping in the ``meta`` table (as ``writes.read_meta`` returns it)."""
    settings = json.loads(meta["settings"])
    kind = str(settings.get("index_type", "auto"))
    return Committed(
        generation=int(meta["generation"]),
        rows=int(meta["rows_committed"]),
        vector_generation=int(meta["vector_generation"]),
        pruned_through=int(meta["pruned_through"]),
        dimensions=int(meta["dimensions"]),
        keep_floats=bool(settings.get("keep_floats", False)),
        index_kind=kind,
        nlist=int(settings.get("ivf_nlist", 1024)),
        nprobe=int(settings.get("ivf_nprobe", 0 if kind == "auto" else 16)),
        auto_min_chunks=int(settings.get("index_auto_min_chunks", AUTO_MIN_CHUNKS)),
        recall_target=float(settings.get("index_recall_target", DEFAULT_RECALL_TARGET)),
    )

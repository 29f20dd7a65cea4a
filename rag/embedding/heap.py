"""Giving freed heap memory back to the system between forward passes (glibc only; a no-op elsewhere).

Each forward allocates its activations afresh (torch's CPU allocator caches nothing), in sizes that move
with every batch's padded width. glibc serves such blocks from its heaps and keeps what is freed, so the
heap fragments and the resident size grew with the number of batches: about 1 GB per 1,000 chunks of
one document, though no batch ever needed more than its token budget. ``malloc_trim(0)`` after each
batch returns the free pages of every arena, so the peak follows the batch budget, not the document.
It costs a walk of the heap (milliseconds) per batch of forward work that takes far longer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_heap() -> None:
    """Return the free pages of glibc's heaps to the system (nothing on other C libraries)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

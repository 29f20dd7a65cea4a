"""Queries first: bulk embedding work runs in bounded slices, each waiting while queries are in flight.

The bulk endpoints (``/v1/embeddings``, ``/v1/contextualizedembeddings``) have their own model thread, so a
search never queues behind a bulk call (issue 15.7). But both threads then share the CPU: torch runs each
forward on every core, and a query's forward and its Hamming/rescore ran at about half speed beside a bulk
forward (search p99 2.86x, and in a longer run 5x, its quiet value at c=8). So bulk work is cut into
slices of about ``SLICE_TOKENS`` tokens (whole documents or texts; a larger one alone), and before each
slice the bulk thread waits until no search or context request is in flight, for at most ``MAX_DEFER_S``:
queries get the cores to themselves except for the one slice already running, and bulk work still
advances under a constant query load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

SLICE_TOKENS = 512  # about 10-40 ms of one forward on two cores for the small encoders; bounded anyway
MAX_DEFER_S = 0.5  # the longest a slice waits for queries to finish: bulk work never starves


class QueryPriority:
    """Counts the queries in flight; the bulk thread waits for none before each slice."""

    def __init__(self, *, max_defer_s: float = MAX_DEFER_S) -> None:
        self.max_defer_s = max_defer_s
        self._active = 0
        self._idle = threading.Condition()

    @contextmanager
    def query(self) -> Iterator[None]:
        """Around a query's embedding and search (any thread, the event loop's included: never blocks)."""
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                if self._active == 0:
                    self._idle.notify_all()

    def before_slice(self) -> None:
        """On the bulk thread: wait until no query is in flight, or ``max_defer_s``."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=self.max_defer_s)


def slices(tokens: Sequence[int], budget: int = SLICE_TOKENS) -> list[range]:
    """Consecutive index ranges of whole inputs, up to ``budget`` tokens each (a larger input alone)."""
    found: list[range] = []
    start, total = 0, 0
    for index, count in enumerate(tokens):
        if index > start and total + count > budget:
            found.append(range(start, index))
            start, total = index, 0
        total += count
    if start < len(tokens):
        found.append(range(start, len(tokens)))
    return found

"""Coalesce concurrent scans of one index into multi-query scans (flat combining, no timer).

A thread that wants a scan queues its request; if fewer than ``parallel`` scans are running (default: one
per CPU the process may use) it becomes a leader, takes every request waiting (up to ``max_batch``) and
runs them as one batch; the others sleep until their result is set. A lone caller therefore scans at once
(no added latency at one client), and under load a batch forms by itself from whatever arrived during the
running scans. ``parallel`` keeps every core scanning: with a single leader, a 1M-chunk scan (compute-bound
per query in the batch) ran on one of two cores, and 8 clients got 0.78x the QPS of ungrouped parallel
scans (bench/http_search.py, measured). The API runs each search on a pool
thread, so concurrent searches of one collection meet here whatever path they took (``search``,
``hybrid``, ``binary+int8``), and the codes are read once per batch instead of once per query.

With ``max_batch=1`` nothing is grouped: each caller runs its own scan at once, beside the others (the
scans release the GIL), as before batching existed; ``RAG_MAX_SCAN_BATCH=1`` serves that way, so a
benchmark can compare the two on one server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

# queries one scan answers at most (RAG_MAX_SCAN_BATCH)
DEFAULT_MAX_SCAN_BATCH = 32


@dataclass(frozen=True)
class ScanPolicy:
    """How concurrent scans of one flat index are grouped (``RAG_MAX_SCAN_BATCH``, ``RAG_PARALLEL_SCANS``):
    at most ``max_batch`` queries per scan (1: each scans alone), ``parallel`` scans at once (None: one per
    CPU)."""

    max_batch: int = DEFAULT_MAX_SCAN_BATCH
    parallel: int | None = None


Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass
class _Ticket(Generic[Request, Result]):
    request: Request
    result: Result | None = None
    error: BaseException | None = None
    taken: bool = False  # a leader holds it in its batch
    done: bool = False


@dataclass
class ScanStats:
    """How many batched scans ran and how many queries they answered (queries / batches = mean batch)."""

    batches: int = 0
    queries: int = 0
    largest: int = 0

    def record(self, size: int) -> None:
        self.batches += 1
        self.queries += size
        self.largest = max(self.largest, size)


class ScanBatcher(Generic[Request, Result]):
    """``submit(request)`` returns ``run([...])``'s answer for it, batched with concurrent submissions."""

    def __init__(
        self,
        run: Callable[[list[Request]], list[Result]],
        *,
        max_batch: int = DEFAULT_MAX_SCAN_BATCH,
        parallel: int | None = None,
    ) -> None:
        if max_batch < 1 or (parallel is not None and parallel < 1):
            raise ValueError(f"max_batch and parallel must be at least 1, got {max_batch}, {parallel}.")
        self._run = run
        self.max_batch = max_batch
        self.parallel = usable_cpus() if parallel is None else parallel
        self._cond = threading.Condition()
        self._pending: list[_Ticket[Request, Result]] = []
        self._running = 0
        self.stats = ScanStats()

    def submit(self, request: Request) -> Result:
        if self.max_batch == 1:
            return self._alone(request)
        ticket: _Ticket[Request, Result] = _Ticket(request)
        with self._cond:
            self._pending.append(ticket)
        while True:
            batch = self._wait_or_lead(ticket)
            if batch is None:
                break
            self._execute(batch)
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _alone(self, request: Request) -> Result:
        """Grouping off: this caller's scan now, not waiting for anyone else's."""
        with self._cond:
            self.stats.record(1)
        return self._run([request])[0]

    def _wait_or_lead(self, ticket: _Ticket[Request, Result]) -> list[_Ticket[Request, Result]] | None:
        """None once ``ticket`` is answered; else the batch this thread must now run as the leader."""
        with self._cond:
            while not ticket.done and (ticket.taken or self._running >= self.parallel):
                self._cond.wait()
            if ticket.done:
                return None
            self._running += 1
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            for t in batch:
                t.taken = True
            self.stats.record(len(batch))
            return batch

    def _execute(self, batch: list[_Ticket[Request, Result]]) -> None:
        try:
            results = self._run([t.request for t in batch])
            for t, result in zip(batch, results, strict=True):
                t.result = result
        except BaseException as exc:  # every caller of the batch sees the error
            for t in batch:
                t.error = exc
        finally:
            with self._cond:
                for t in batch:
                    t.done = True
                self._running -= 1
                self._cond.notify_all()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)

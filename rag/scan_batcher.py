"""Coalesce concurrent scans of one index into multi-query scans (flat combining, no timer).

A thread that wants a scan queues its request; if fewer than ``parallel`` scans are running it becomes a
leader, takes every request waiting (up to ``max_batch``) and runs them as one batch; the others sleep
until their result is set, or until a finishing leader hands one of them its slot and the next batch. A
lone caller therefore scans at once (no added latency at one client), and under load a batch forms by
itself from whatever arrived during the running scans. The API runs each search on a pool thread, so
concurrent searches of one collection meet here whatever path they took (``search``, ``hybrid``,
``binary+int8``), and the codes are read once per batch instead of once per query.

How many scans may run at once (``parallel``, ``RAG_PARALLEL_SCANS``) depends on how much a batch saves,
which depends on the kernel (``default_parallel``): with AVX-512 a batch of 8 costs about 2.5x one query, so
one scan holding every waiting query wins; with AVX2 it costs about 5x, and every core should scan.

With ``max_batch=1`` nothing is grouped: each caller runs its own scan at once, beside the others (the
scans release the GIL), as before batching existed; ``RAG_MAX_SCAN_BATCH=1`` serves that way, so a
benchmark can compare the two on one server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rag.hamming import kernel_variant

# queries one scan answers at most (RAG_MAX_SCAN_BATCH)
DEFAULT_MAX_SCAN_BATCH = 32


@dataclass(frozen=True)
class ScanPolicy:
    """How concurrent scans of one flat index are grouped (``RAG_MAX_SCAN_BATCH``, ``RAG_PARALLEL_SCANS``):
    at most ``max_batch`` queries per scan (1: each scans alone), ``parallel`` scans at once (None:
    ``default_parallel()``)."""

    max_batch: int = DEFAULT_MAX_SCAN_BATCH
    parallel: int | None = None


Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass
class _Ticket(Generic[Request, Result]):
    request: Request
    # set once the answer is in, or once this caller has been handed a scan slot and a batch to lead
    wake: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None
    # the batch this caller runs (its own ticket first), taken from the queue when it got the slot
    lead: list[_Ticket[Request, Result]] | None = None


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
        self.parallel = default_parallel() if parallel is None else parallel
        self._lock = threading.Lock()
        self._pending: list[_Ticket[Request, Result]] = []
        self._running = 0
        self.stats = ScanStats()

    def submit(self, request: Request) -> Result:
        if self.max_batch == 1:
            return self._alone(request)
        ticket: _Ticket[Request, Result] = _Ticket(request)
        with self._lock:
            self._pending.append(ticket)
            if self._running < self.parallel:  # a free slot: nobody else waits (the queue was empty)
                self._running += 1
                ticket.lead = self._take()
        if ticket.lead is None:
            ticket.wake.wait()
        if ticket.lead is not None:
            self._execute(ticket.lead)
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _alone(self, request: Request) -> Result:
        """Grouping off: this caller's scan now, not waiting for anyone else's."""
        with self._lock:
            self.stats.record(1)
        return self._run([request])[0]

    def _take(self) -> list[_Ticket[Request, Result]]:
        """The next batch, the oldest ``max_batch`` waiting requests (under the lock, by a slot holder)."""
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
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
            self._finish(batch)

    def _finish(self, batch: list[_Ticket[Request, Result]]) -> None:
        """Wake exactly the batch's callers, and hand the slot with the next batch to the oldest waiting
        caller: one wake per caller, where a shared condition woke every waiter at each scan's end
        (measured: its notify_all held the GIL in ~10 % of a busy server's samples)."""
        with self._lock:
            successor = self._pending[0] if self._pending else None
            if successor is None:
                self._running -= 1
            else:
                successor.lead = self._take()
        for t in batch:
            t.wake.set()
        if successor is not None:
            successor.wake.set()


def default_parallel() -> int:
    """Scans of one index at once when the settings say nothing. Where the kernel is AVX-512 (a batch of 8
    queries ~2.5x one query's cost), one: 8 clients over 1M chunks got 242-262 QPS against 210-229 with one
    scan per CPU, p99 62-65 against 66-99 ms (2 vCPUs, two runs each, 2026-12-02), since parallel scans
    split the batches (mean 1.4 queries against 2.4) and took the core the requests' Python needs.
    Elsewhere, one per CPU: with AVX2 (a batch of 8 ~5x one query) a single scan leader got 0.78x the QPS
    of parallel scans (measured)."""
    return 1 if kernel_variant() == "avx512" else usable_cpus()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)

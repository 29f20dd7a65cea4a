"""Locks: one writer per collection across processes (fcntl), readers/refresh inside a process.

The OS lock is an ``flock`` on ``write.lock`` in the collection folder. It is taken for each write (not for
the lifetime of a ``Collection``), so several processes may write in turn; the kernel drops it when the
holder dies, so a kill -9 never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import StoreLockedError

_POLL_SECONDS = 0.02


class WriteLock:
    """Exclusive writer lock of one collection: a thread lock plus an OS file lock."""

    def __init__(self, path: Path, *, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self, *, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock for the ``with`` body; StoreLockedError after ``timeout`` seconds of waiting."""
        wait = self._timeout if timeout is None else timeout
        if not self._thread_lock.acquire(timeout=max(wait, 0.0)):
            raise self._locked_error(wait)
        try:
            if self._depth == 0:
                self._fd = self._acquire_file(wait)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release_file()
        finally:
            self._thread_lock.release()

    def _acquire_file(self, wait: float) -> int:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise self._locked_error(wait) from None
                time.sleep(_POLL_SECONDS)

    def _release_file(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _locked_error(self, wait: float) -> StoreLockedError:
        return StoreLockedError(
            f"Another writer holds {self._path.parent.name!r} (waited {wait:g} s); retry when it is done."
        )


class ReadWriteLock:
    """Many concurrent readers or one writer, inside one process (searches vs. index refresh)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

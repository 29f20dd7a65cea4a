"""Durable records of background jobs: ``<data_dir>/jobs.db`` (SQLite), one row per job with its input.

A job is recorded, with the input it needs to run again, before its 202 answer goes out; every change of
status (and of ``done``) is committed as it happens. So after a kill or a restart every job id still
answers, and a job that was queued or running is run again from its saved input (ingestion is idempotent:
documents already written have matching content hashes and are skipped). A finished job's input is
dropped; the last ``max_jobs`` records are kept.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    collection TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    result TEXT,
    error TEXT,
    error_type TEXT,
    payload BLOB
)
"""
FIELDS = (
    "id", "status", "collection", "total", "done", "created_at", "started_at", "finished_at", "result",
    "error", "error_type",
)  # fmt: skip
UNFINISHED = ("queued", "running")


class JobStore:
    """The jobs table; thread-safe (one connection behind a lock), each call its own transaction."""

    def __init__(self, path: Path, *, max_jobs: int = 1000) -> None:
        self.path, self.max_jobs = path, max_jobs
        self._lock = threading.Lock()
        self._opened: sqlite3.Connection | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        """The connection, opened on first use (building an app creates no file; call under the lock)."""
        if self._opened is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(SCHEMA)
            self._opened = conn
        return self._opened

    def insert(self, record: dict[str, Any], payload: bytes) -> None:
        columns = [*FIELDS, "payload"]
        values = [record.get(name) for name in FIELDS] + [payload]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                f"INSERT INTO jobs({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values
            )
            # keep the newest records; never an unfinished job's (its input is still needed)
            self._conn.execute(
                "DELETE FROM jobs WHERE status NOT IN ('queued', 'running') AND id NOT IN "
                "(SELECT id FROM jobs ORDER BY created_at DESC LIMIT ?)",
                (self.max_jobs,),
            )
            self._conn.execute("COMMIT")

    def update(self, job_id: str, changes: dict[str, Any], *, finished: bool = False) -> None:
        assignments = [f"{name} = ?" for name in changes]
        if finished:
            assignments.append("payload = NULL")  # the input is no longer needed
        with self._lock:
            self._conn.execute(
                f"UPDATE jobs SET {', '.join(assignments)} WHERE id = ?", [*changes.values(), job_id]
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(FIELDS)} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else dict(zip(FIELDS, row, strict=True))

    def unfinished(self) -> list[tuple[dict[str, Any], bytes | None]]:
        """Queued and running jobs, oldest first, with their saved input."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(FIELDS)}, payload FROM jobs WHERE status IN (?, ?) ORDER BY created_at",
                UNFINISHED,
            ).fetchall()
        return [(dict(zip(FIELDS, row[:-1], strict=True)), row[-1]) for row in rows]

    def close(self) -> None:
        with self._lock:
            if self._opened is not None:
                self._opened.close()
                self._opened = None

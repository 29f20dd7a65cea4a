"""Background jobs: large document uploads run on a worker thread and report progress.

Jobs live in memory (the last ``max_jobs`` are kept) and run one at a time, in submission order, on one
thread, so two large uploads never compete for the model. A job's work is a function of a progress
callback (documents done so far) that returns the job's result.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

from rag.errors import JobNotFoundError, RagError

logger = logging.getLogger("api")

Result = TypeVar("Result")
Progress = Callable[[int], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobView(Generic[Result]):
    """A consistent snapshot of one job."""

    id: str
    status: str
    collection: str
    total: int
    done: int
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    result: Result | None = None
    error: str | None = None
    error_type: str | None = None


class JobManager(Generic[Result]):
    """Runs submitted work on one background thread and keeps each job's state."""

    def __init__(self, *, max_jobs: int = 1000) -> None:
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, JobView[Result]] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")

    def submit(self, collection: str, total: int, work: Callable[[Progress], Result]) -> JobView[Result]:
        job: JobView[Result] = JobView(
            id=uuid.uuid4().hex,
            status="queued",
            collection=collection,
            total=total,
            done=0,
            created_at=_now(),
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.max_jobs:
                self._jobs.popitem(last=False)
        self._executor.submit(self._run, job.id, total, work)
        return job

    def get(self, job_id: str) -> JobView[Result]:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r} (jobs are kept in memory until a restart).")
        return job

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, **changes)  # type: ignore[arg-type]

    def _run(self, job_id: str, total: int, work: Callable[[Progress], Result]) -> None:
        self._update(job_id, status="running", started_at=_now())
        try:
            result = work(lambda done: self._update(job_id, done=done))
        except RagError as exc:
            self._update(
                job_id, status="failed", finished_at=_now(), error=exc.message, error_type=exc.error_type
            )
        except Exception:
            logger.exception("background job %s failed", job_id)
            self._update(
                job_id,
                status="failed",
                finished_at=_now(),
                error="internal error.",
                error_type="internal_error",
            )
        else:
            self._update(job_id, status="succeeded", finished_at=_now(), result=result, done=total)

    def shutdown(self) -> None:
        """Let the running job finish; drop queued ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)

"""Background jobs: large document uploads run on a worker thread and report progress.

Jobs run one at a time, in submission order, on one thread, so two large uploads never compete for the
model. A job's work is a function of a progress callback (documents done so far) that returns the job's
result. With a ``JobStore`` (the API's ``<data_dir>/jobs.db``) every job is recorded with its input
before ``submit`` returns and every change is committed, so a restart finds each job: ``resume`` runs the
queued and running ones again from their input; ``shutdown`` lets the running job finish and leaves the
queued ones recorded for the next start.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar, cast

from api.jobstore import JobStore
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


@dataclass(frozen=True)
class ResultCodec(Generic[Result]):
    """How a job's result is written to and read from the store."""

    encode: Callable[[Result], str]
    decode: Callable[[str], Result]


Work = Callable[[Progress], Result]


class JobManager(Generic[Result]):
    """Runs submitted work on one background thread and keeps each job's state (durably with a store)."""

    def __init__(
        self,
        *,
        max_jobs: int = 1000,
        store: JobStore | None = None,
        codec: ResultCodec[Result] | None = None,
    ) -> None:
        self.max_jobs = max_jobs
        self._store, self._codec = store, codec
        self._jobs: OrderedDict[str, JobView[Result]] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")

    def submit(
        self, collection: str, total: int, work: Work[Result], payload: bytes = b""
    ) -> JobView[Result]:
        """Queue ``work``; with a store, the job and ``payload`` (what ``resume`` needs to run it again)
        are committed before this returns (blocking: call it off the event loop)."""
        job: JobView[Result] = JobView(
            id=uuid.uuid4().hex,
            status="queued",
            collection=collection,
            total=total,
            done=0,
            created_at=_now(),
        )
        if self._store is not None:
            self._store.insert(asdict(job), payload)
        self._remember(job)
        self._executor.submit(self._run, job.id, total, work)
        return job

    def resume(self, make_work: Callable[[str, bytes], Work[Result]]) -> int:
        """Run again every job the store holds as queued or running (a restart, a kill); a job whose
        input cannot be used is marked failed with the reason. Returns how many were queued."""
        if self._store is None:
            return 0
        queued = 0
        for record, payload in self._store.unfinished():
            job: JobView[Result] = JobView(**{**record, "result": None, "status": "queued"})
            self._remember(job)
            try:
                work = make_work(job.collection, payload or b"")
            except Exception as exc:  # an input this version cannot read: say so, never drop it silently
                reason = exc.message if isinstance(exc, RagError) else type(exc).__name__
                self._update(job.id, status="failed", finished_at=_now(), error=f"could not resume: {reason}",
                             error_type="internal_error")  # fmt: skip
                continue
            logger.info("resuming background job %s", job.id)
            self._executor.submit(self._run, job.id, job.total, work)
            queued += 1
        return queued

    def get(self, job_id: str) -> JobView[Result]:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self._store is not None:
            job = self._from_record(self._store.get(job_id))
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}.")
        return job

    def _from_record(self, record: dict[str, object] | None) -> JobView[Result] | None:
        if record is None:
            return None
        text = record.get("result")
        result = self._codec.decode(str(text)) if text is not None and self._codec is not None else None
        return JobView(**{**record, "result": result})  # type: ignore[arg-type]

    def _remember(self, job: JobView[Result]) -> None:
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.max_jobs:
                self._jobs.popitem(last=False)

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, **changes)  # type: ignore[arg-type]
        if self._store is not None:
            stored = dict(changes)
            finished = stored.get("status") in ("succeeded", "failed")
            if "result" in stored:
                result = cast("Result | None", stored["result"])
                encode = self._codec.encode if self._codec is not None else None
                stored["result"] = None if result is None or encode is None else encode(result)
            self._store.update(job_id, stored, finished=finished)

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
        """Let the running job finish; queued ones stay recorded (queued) for ``resume`` at the next start
        (without a store they are dropped)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._store is not None:
            self._store.close()

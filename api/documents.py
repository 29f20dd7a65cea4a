"""The documents and jobs endpoints' work: read the request, ingest now or as a job, report.

``POST /v1/collections/{name}/documents`` takes JSON (``AddDocumentsRequest``) or ``multipart/form-data``
files (any part that is a file). More documents (or files) than ``background_job_threshold``, or uploads
and document texts over ``BACKGROUND_UPLOAD_BYTES`` in all, run as a background job (202 and a job id);
the rest answer with the per-document outcome (201 when something was added, else 200).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.ingesting import DocumentBatch, batch_from_json, ingest_batch, job_embedder
from api.jobs import JobView
from api.schemas import AddDocumentsRequest, IngestReport, JobAccepted, JobPublic
from api.state import AppState
from rag.errors import InvalidInputError

BACKGROUND_UPLOAD_BYTES = 1024 * 1024
MAX_UPLOAD_FILES = 1000


async def read_documents(request: Request) -> DocumentBatch:
    """The documents of a JSON body or of a multipart upload (files kept as bytes, parsed later)."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        return await _read_upload(request)
    if not content_type.startswith("application/json"):
        raise InvalidInputError("send documents as application/json or files as multipart/form-data.")
    try:
        body = AddDocumentsRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    return batch_from_json(body)


async def _read_upload(request: Request) -> DocumentBatch:
    batch = DocumentBatch()
    async with request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES) as form:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                batch.uploads.append((value.filename or "upload", await value.read()))
    if not batch.uploads:
        raise InvalidInputError("the upload holds no files; send each file as a multipart file part.")
    return batch


def runs_in_background(state: AppState, batch: DocumentBatch) -> bool:
    """Many documents, or much text (uploaded or in JSON: a single large document embeds for minutes)."""
    return batch.count > state.settings.background_job_threshold or batch.size > BACKGROUND_UPLOAD_BYTES


async def add_documents(state: AppState, name: str, request: Request) -> JSONResponse:
    """Ingest now (200/201 with the outcome) or as a background job (202 with its id)."""
    collection = await run_in_threadpool(state.collection, name)
    batch = await read_documents(request)
    work = partial(
        ingest_batch, state.ready_library(), state.settings, state.ready_embedder(), collection, batch
    )
    if runs_in_background(state, batch):
        embedder = state.ready_embedder()

        def run_job(progress: Callable[[int], None]) -> IngestReport:  # on the jobs thread: Ray joins there
            stage = job_embedder(state.settings, embedder, state.priority)
            return ingest_batch(state.ready_library(), state.settings, stage, collection, batch, progress)

        # recorded durably with its input before the 202 (api/jobstore.py): off the event loop
        job = await run_in_threadpool(state.jobs.submit, name, batch.count, run_job, batch.to_payload())
        url = f"/v1/jobs/{job.id}"
        accepted = JobAccepted(job_id=job.id, status="queued", url=url)
        return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": url})
    report = await run_in_threadpool(work)
    return JSONResponse(report.model_dump(), status_code=201 if report.added else 200)


def job_public(job: JobView[IngestReport]) -> JobPublic:
    return JobPublic(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        collection=job.collection,
        total=job.total,
        done=job.done,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        result=job.result,
        error=job.error,
        error_type=job.error_type,
    )

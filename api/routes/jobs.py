"""``GET /v1/jobs/{job_id}``: a background job's progress and outcome."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Reader, State
from api.documents import job_public
from api.errors import AUTH_CODES, error_responses
from api.schemas import JobPublic

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get(
    "/{job_id}",
    operation_id="get_job",
    summary="A background job",
    responses=error_responses(*AUTH_CODES, 404, 422),
)
async def get_job(
    job_id: Annotated[str, Path(description="The job's id (from the 202 answer).")],
    state: State,
    principal: Reader,
) -> JobPublic:
    """Status, documents done of the total, and when finished the per-document outcome."""
    job = state.jobs.get(job_id)
    principal.require_collection(job.collection)
    return job_public(job)

"""``/v1/collections``: list, create, describe and delete collections."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool

from api.collections import collection_info, create_collection, delete_collection, list_collections
from api.deps import Admin, AdminCollection, ReadableCollection, Reader, State
from api.errors import AUTH_CODES, error_responses
from api.schemas import CollectionCreate, CollectionList, CollectionPublic, Deleted

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.get(
    "",
    operation_id="list_collections",
    summary="List collections",
    responses=error_responses(*AUTH_CODES, 503),
)
async def list_all(state: State, principal: Reader) -> CollectionList:
    """The collections the caller's key may touch, with their counts and fingerprints."""
    return await run_in_threadpool(list_collections, state, principal)


@router.post(
    "",
    operation_id="create_collection",
    summary="Create a collection",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*AUTH_CODES, 409, 422, 503),
)
async def create(body: CollectionCreate, state: State, principal: Admin) -> CollectionPublic:
    """An empty collection for the served model; its chunking and ``keep_floats`` are fixed for life."""
    principal.require_collection(body.name)
    return await run_in_threadpool(create_collection, state, body)


@router.get(
    "/{name}",
    operation_id="get_collection",
    summary="Describe a collection",
    responses=error_responses(*AUTH_CODES, 404, 422, 503),
)
async def describe(name: ReadableCollection, state: State) -> CollectionPublic:
    """The collection's document and chunk counts, fingerprint (what built it) and settings."""
    return await run_in_threadpool(collection_info, state, name)


@router.delete(
    "/{name}",
    operation_id="delete_collection",
    summary="Delete a collection",
    responses=error_responses(*AUTH_CODES, 404, 422, 429, 503),
)
async def delete(name: AdminCollection, state: State) -> Deleted:
    """The collection and everything in it, for good."""
    return await run_in_threadpool(delete_collection, state, name)

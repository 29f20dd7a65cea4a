"""``/v1/collections/{name}/documents``: add (JSON or file uploads), list, read and delete documents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.collections import delete_document, get_document, list_documents
from api.deps import ReadableCollection, State, WritableCollection
from api.documents import add_documents
from api.errors import AUTH_CODES, error_responses
from api.schemas import AddDocumentsRequest, Deleted, DocumentList, DocumentPublic, IngestReport, JobAccepted

# Beyond any real collection, and far inside SQLite's 64-bit integers (2**63 answered 500).
MAX_OFFSET = 10**12

router = APIRouter(prefix="/v1/collections/{name}/documents", tags=["documents"])
DocumentId = Annotated[str, Path(description="The document's id (it may contain '/').")]


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` references inlined (OpenAPI resolves ``#`` from its own root)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return dict(resolve(schema))


UPLOAD_SCHEMA = {
    "type": "object",
    "properties": {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "Files to add (txt, md, html, pdf, docx, jsonl); a file's name is its id.",
        }
    },
    "required": ["files"],
}
ADD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline(AddDocumentsRequest.model_json_schema())},
            "multipart/form-data": {"schema": UPLOAD_SCHEMA},
        },
    }
}
ADD_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": IngestReport, "description": "Documents added (outcome per document)."},
    202: {"model": JobAccepted, "description": "Running as a background job; poll its url."},
    **error_responses(*AUTH_CODES, 404, 409, 413, 422, 429, 503),
}


@router.post(
    "",
    operation_id="add_documents",
    summary="Add or replace documents",
    response_model=IngestReport,
    responses=ADD_RESPONSES,
    openapi_extra=ADD_BODY,
)
async def add(name: WritableCollection, state: State, request: Request) -> JSONResponse:
    """JSON documents (``{"documents": [...]}``) or uploaded files (txt, md, html, pdf, docx, jsonl).

    Large requests run as a background job (202); the others answer with each document's outcome
    (201 when one was added, 200 when all were unchanged or failed).
    """
    return await add_documents(state, name, request)


@router.get(
    "",
    operation_id="list_documents",
    summary="List documents",
    responses=error_responses(*AUTH_CODES, 404, 422, 503),
)
async def list_all(
    name: ReadableCollection,
    state: State,
    limit: Annotated[int, Query(ge=1, le=1000, description="Documents per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Documents to skip (in id order).")] = 0,
) -> DocumentList:
    """The collection's documents in id order, without their chunks, a page at a time."""
    documents = await run_in_threadpool(lambda: list_documents(state, name, limit=limit, offset=offset))
    return DocumentList(documents=documents)


@router.get(
    "/{doc_id:path}",
    operation_id="get_document",
    summary="Read a document",
    responses=error_responses(*AUTH_CODES, 404, 422, 503),
)
async def read(name: ReadableCollection, doc_id: DocumentId, state: State) -> DocumentPublic:
    """The stored document, its metadata and its chunks."""
    return await run_in_threadpool(get_document, state, name, doc_id)


@router.delete(
    "/{doc_id:path}",
    operation_id="delete_document",
    summary="Delete a document",
    responses=error_responses(*AUTH_CODES, 404, 422, 429, 503),
)
async def delete(name: WritableCollection, doc_id: DocumentId, state: State) -> Deleted:
    """The document and its chunks, for good."""
    return await run_in_threadpool(delete_document, state, name, doc_id)

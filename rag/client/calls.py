"""The REST calls as data (method, path, body, parser), shared by the sync and async clients, and the
mapping of error bodies to the project's errors.

A ``Call`` holds no I/O: ``RagClient`` and ``AsyncRagClient`` only send it and hand the response to
``Call.parse``, so both clients speak the same API by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from rag import errors
from rag.client.models import (
    CollectionSummary,
    ContextResult,
    Document,
    DocumentSummary,
    IngestReport,
    NewDocument,
    SearchResults,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

ERROR_TYPES: dict[str, type[errors.RagError]] = {
    "validation_error": errors.InvalidInputError,
    "payload_too_large": errors.InvalidInputError,
    "not_found": errors.NotFoundError,
    "unauthorized": errors.UnauthorizedError,
    "forbidden": errors.ForbiddenError,
    "conflict": errors.ConflictError,
    "fingerprint_mismatch": errors.FingerprintMismatchError,
    "busy": errors.BusyError,
    "not_ready": errors.NotReadyError,
    "model_load_error": errors.ModelLoadError,
    "config_error": errors.ConfigError,
    "store_error": errors.StoreError,
    "corrupt_store": errors.CorruptStoreError,
    "embedding_error": errors.EmbeddingError,
}


def error_for(error_type: str | None, message: str) -> errors.RagError:
    """The project's error for a server's ``error_type`` (``RagError`` for types it does not know)."""
    return ERROR_TYPES.get(error_type or "", errors.RagError)(message)


def raise_for_error(response: httpx.Response) -> None:
    """Raise the mapped error, carrying the server's sentence, for any status of 400 and above."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        raise error_for(body.get("error_type"), body["error"])
    text = response.text.strip()[:200] or response.reason_phrase
    raise error_for(None, f"the server answered {response.status_code}: {text}")


def unreachable(base_url: str, exc: httpx.TransportError) -> errors.NotReadyError:
    return errors.NotReadyError(
        f"cannot reach the rag server at {base_url} ({type(exc).__name__}); is `rag serve` running there?"
    )


def _model(kind: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: kind.model_validate(response.json())


def _listed(kind: type[M], key: str) -> Callable[[httpx.Response], list[M]]:
    adapter = TypeAdapter(list[kind])  # type: ignore[valid-type]
    return lambda response: list(adapter.validate_python(response.json()[key]))


def _nothing(response: httpx.Response) -> None:
    return None


def _json(response: httpx.Response) -> Any:
    return response.json()


def _given(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were given (``None`` leaves the server's default)."""
    return {key: value for key, value in values.items() if value is not None}


def _segment(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)


def search(query: str, *, collection: str, **options: Any) -> Call[SearchResults]:
    body = {"query": query, "collection": collection, **_given(**options)}
    return Call("POST", "/v1/search", _model(SearchResults), json=body)


def context(query: str, *, collection: str, **options: Any) -> Call[ContextResult]:
    body = {"query": query, "collection": collection, **_given(**options)}
    return Call("POST", "/v1/context", _model(ContextResult), json=body)


def list_collections() -> Call[list[CollectionSummary]]:
    return Call("GET", "/v1/collections", _listed(CollectionSummary, "collections"))


def get_collection(name: str) -> Call[CollectionSummary]:
    return Call("GET", f"/v1/collections/{_segment(name)}", _model(CollectionSummary))


def create_collection(name: str, **options: Any) -> Call[CollectionSummary]:
    body = {"name": name, **_given(**options)}
    return Call("POST", "/v1/collections", _model(CollectionSummary), json=body)


def delete_collection(name: str) -> Call[None]:
    return Call("DELETE", f"/v1/collections/{_segment(name)}", _nothing)


def _documents_path(collection: str) -> str:
    return f"/v1/collections/{_segment(collection)}/documents"


def list_documents(collection: str, *, limit: int, offset: int) -> Call[list[DocumentSummary]]:
    params = {"limit": limit, "offset": offset}
    return Call("GET", _documents_path(collection), _listed(DocumentSummary, "documents"), params=params)


def get_document(collection: str, document_id: str) -> Call[Document]:
    # Document ids may hold "/": the route takes the rest of the path, so only the rest is quoted.
    return Call("GET", f"{_documents_path(collection)}/{quote(document_id)}", _model(Document))


def delete_document(collection: str, document_id: str) -> Call[None]:
    return Call("DELETE", f"{_documents_path(collection)}/{quote(document_id)}", _nothing)


def add_documents(collection: str, documents: Sequence[NewDocument | Mapping[str, Any]]) -> Call[Any]:
    """The add request; its JSON is an ``IngestReport`` or, for a background job, ``{job_id, url}``."""
    items = [NewDocument.model_validate(d) if isinstance(d, Mapping) else d for d in documents]
    body = {"documents": [item.model_dump(exclude_none=True) for item in items]}
    return Call("POST", _documents_path(collection), _json, json=body)


def get_job(url: str) -> Call[Any]:
    return Call("GET", url, _json)


def job_report(job: dict[str, Any]) -> IngestReport | None:
    """The report of a finished job, ``None`` while it runs; a failed job raises its error."""
    if job["status"] == "succeeded":
        return IngestReport.model_validate(job["result"])
    if job["status"] == "failed":
        raise error_for(job.get("error_type"), job.get("error") or "the ingestion job failed.")
    return None


def is_job(body: Any) -> bool:
    return isinstance(body, dict) and "job_id" in body and "url" in body

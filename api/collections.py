"""The collections and documents endpoints' work (blocking store calls: run off the event loop)."""

from __future__ import annotations

import logging
from dataclasses import replace

from api.auth import Principal
from api.ingesting import ingest_options
from api.schemas import (
    ChunkPublic,
    CollectionCreate,
    CollectionList,
    CollectionPublic,
    Deleted,
    DocumentPublic,
    DocumentSummary,
)
from api.state import AppState
from rag.errors import DocumentNotFoundError, InvalidInputError

logger = logging.getLogger("api")


def list_collections(state: AppState, principal: Principal) -> CollectionList:
    """The collections this caller may touch; a corrupt one is listed with counts -1 (its own routes answer
    500 ``corrupt_store`` with the reason), so one damaged database never hides the healthy ones."""
    infos = state.ready_library().list_collections()
    for info in infos:
        if info.error is not None:
            logger.error("listing collections: %s", info.error)
    visible = [info for info in infos if principal.may_touch(info.name)]
    return CollectionList(collections=[CollectionPublic.model_validate(info) for info in visible])


def collection_info(state: AppState, name: str) -> CollectionPublic:
    return CollectionPublic.model_validate(state.ready_library().open_collection(name).info())


def create_collection(state: AppState, body: CollectionCreate) -> CollectionPublic:
    """A new, empty collection for the served model, chunked as ``body`` says (server defaults else)."""
    embedder = state.ready_embedder()
    options = ingest_options(
        state.settings, None, {"keep_floats": body.keep_floats}, embedder.max_input_tokens
    )
    options = replace(
        options,
        target_tokens=body.chunk_target_tokens or options.target_tokens,
        max_tokens=body.chunk_max_tokens or options.max_tokens,
    )
    if options.max_tokens < options.target_tokens:
        raise InvalidInputError(
            f"chunk_max_tokens ({options.max_tokens}) must be at least "
            f"chunk_target_tokens ({options.target_tokens})."
        )
    library = state.ready_library()
    fingerprint = options.fingerprint(embedder.fingerprint)
    collection = library.create_collection(
        body.name, fingerprint=fingerprint, settings={"keep_floats": body.keep_floats}
    )
    return CollectionPublic.model_validate(collection.info())


def delete_collection(state: AppState, name: str) -> Deleted:
    state.ready_library().delete_collection(name)
    return Deleted(deleted=name, kind="collection")


def list_documents(state: AppState, name: str, *, limit: int, offset: int) -> list[DocumentSummary]:
    collection = state.ready_library().open_collection(name)
    documents = collection.list_documents(limit=limit, offset=offset)
    return [DocumentSummary.model_validate(document) for document in documents]


def get_document(state: AppState, name: str, doc_id: str) -> DocumentPublic:
    """A stored document and its chunks."""
    collection = state.ready_library().open_collection(name)
    document = collection.get_document(doc_id)
    chunks = [
        ChunkPublic(
            ordinal=chunk.ordinal,
            text=chunk.text,
            char_start=chunk.char_start,
            char_end=chunk.char_end,
            token_count=chunk.token_count,
            page=chunk.page,
        )
        for chunk in collection.get_chunks(doc_id)
    ]
    return DocumentPublic(**DocumentSummary.model_validate(document).model_dump(), chunks=chunks)


def delete_document(state: AppState, name: str, doc_id: str) -> Deleted:
    if not state.ready_library().open_collection(name).delete_documents([doc_id]):
        raise DocumentNotFoundError(f"no document {doc_id!r} in the collection {name!r}.")
    return Deleted(deleted=doc_id, kind="document")

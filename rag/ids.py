"""What a document id, title and metadata key may hold: one check, used by every surface.

Ids travel in URL paths (``GET /v1/collections/{name}/documents/{id}``), where clients and proxies
resolve dot segments before the server sees them: an id ``../x`` or ``a/b/../c`` could be stored but never
read or deleted through the API. NUL cuts strings short in C (SQLite's ``json_extract`` paths, FTS
tokenizers, terminals). So ids with a ``.`` or ``..`` segment or a NUL are refused, as are NUL in titles
and in metadata keys, with one message per problem, wherever a document enters: the store
(``Collection.upsert_documents``, the Python API), the ingestion pipeline (JSON Lines, folders, API jobs:
a named failure per document) and the API's request schemas (422). Nothing is rewritten silently: an id
the caller chose is the key they will read it back by.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rag.errors import InvalidInputError

DOT_SEGMENTS = frozenset({".", ".."})


def id_problem(doc_id: str) -> str | None:
    """Why ``doc_id`` cannot be a document id, or None."""
    if not doc_id:
        return "the document id is empty"
    if "\x00" in doc_id:
        return f"the document id {doc_id!r} holds a NUL character"
    if any(segment in DOT_SEGMENTS for segment in doc_id.replace("\\", "/").split("/")):
        return (
            f"the document id {doc_id!r} has a '.' or '..' path segment (URLs resolve those, so it could "
            "not be read or deleted through the API)"
        )
    return None


def document_problem(doc_id: str, title: str | None, metadata: Mapping[str, Any]) -> str | None:
    """Why a document with this id, title and metadata cannot be stored, or None."""
    problem = id_problem(doc_id)
    if problem is not None:
        return problem
    if title is not None and "\x00" in title:
        return f"the title of {doc_id!r} holds a NUL character"
    key = _nul_key(metadata)
    if key is not None:
        return f"the metadata of {doc_id!r} has a key with a NUL character ({key!r})"
    return None


def check_document_id(doc_id: str) -> str:
    """``doc_id``, or ``InvalidInputError`` saying what is wrong with it."""
    problem = id_problem(doc_id)
    if problem is not None:
        raise InvalidInputError(problem[0].upper() + problem[1:] + ".")
    return doc_id


def check_document(doc_id: str, title: str | None, metadata: Mapping[str, Any]) -> None:
    """``InvalidInputError`` when the document's id, title or a metadata key cannot be stored."""
    problem = document_problem(doc_id, title, metadata)
    if problem is not None:
        raise InvalidInputError(problem[0].upper() + problem[1:] + ".")


def _nul_key(value: Any) -> str | None:
    """The first key holding NUL in ``value``'s mappings, nested ones included."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            for key, nested in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return key
                pending.append(nested)
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None

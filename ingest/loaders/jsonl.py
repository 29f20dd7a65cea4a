"""JSON Lines: one document per line, ``{"_id"|"id", "title", "text", "metadata"}``.

A bad line is a failure named ``file:line`` and the other lines still load. A line without an id gets
``<file id>#<line number>``, which is stable only while lines are not inserted above it, so callers that
re-ingest should give ids.
"""

from __future__ import annotations

import json
from typing import Any

from ingest.loaders.documents import LoadFailure, LoadResult, SourceDocument, UnreadableError
from ingest.loaders.files import is_unicode
from ingest.loaders.formats import decode_text
from rag.jsonvalues import loads_strict


def parse_jsonl(data: bytes, *, file_id: str, name: str, source: str | None) -> LoadResult:
    """Documents of a JSON Lines file; ``name`` is how failures refer to the file."""
    try:
        text = decode_text(data)
    except UnreadableError as exc:
        return LoadResult(failures=[LoadFailure(name, str(exc), source)])
    result, seen = LoadResult(), set[str]()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            document = _document(line, f"{file_id}#{number}", source)
        except UnreadableError as exc:
            result.failures.append(LoadFailure(f"{name}:{number}", str(exc), source))
            continue
        if document.id in seen:
            result.failures.append(LoadFailure(f"{name}:{number}", f"duplicate id {document.id!r}", source))
            continue
        seen.add(document.id)
        result.documents.append(document)
    return result


def _document(line: str, default_id: str, source: str | None) -> SourceDocument:
    try:
        record = loads_strict(line)
    except json.JSONDecodeError as exc:
        raise UnreadableError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # NaN / Infinity literals
        raise UnreadableError(f"invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise UnreadableError("a line must be a JSON object")
    text = record.get("text")
    if not isinstance(text, str):
        raise UnreadableError('"text" must be a string')
    return SourceDocument(
        id=_id(record, default_id),
        text=text,
        title=_optional_str(record.get("title"), "title"),
        source=source,
        metadata=_metadata(record.get("metadata")),
    )


def _id(record: dict[str, Any], default: str) -> str:
    value = record.get("_id", record.get("id"))
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise UnreadableError('"_id"/"id" must be a non-empty string or an integer')
    if not is_unicode(str(value)):
        raise UnreadableError('"_id"/"id" is not valid Unicode (it holds a lone surrogate escape)')
    return str(value)


def _optional_str(value: object, key: str) -> str | None:
    if isinstance(value, str) and not is_unicode(value):
        raise UnreadableError(f'"{key}" is not valid Unicode (it holds a lone surrogate escape)')
    if value is None or isinstance(value, str):
        return value or None
    raise UnreadableError(f'"{key}" must be a string')


def _metadata(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UnreadableError('"metadata" must be an object')
    return value

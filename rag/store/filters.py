"""Metadata filters compiled to SQL over ``documents d`` (``json_extract`` on the metadata column).

A filter is ``{key: value}`` (equality) or ``{key: {op: value, ...}}`` with ops ``$eq $in $gt $gte $lt $lte``;
all keys are ANDed. Comparisons are type-strict: a string never equals a number, a range only matches
numbers (SQLite would otherwise order any text above every number).
"""

from __future__ import annotations

import re
from typing import Any

from rag.errors import InvalidInputError
from rag.types import MetadataFilter

OPERATORS = ("$eq", "$in", "$gt", "$gte", "$lt", "$lte")
_RANGE_SQL = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_KEY = re.compile(r"^[^\"\\\x00-\x1f]{1,128}$")
_IN_LIMIT = 1000


def compile_filter(spec: MetadataFilter | None) -> tuple[str, list[Any]]:
    """SQL condition (over alias ``d``) and its parameters; ``("1", [])`` when there is no filter."""
    if not spec:
        return "1", []
    if not isinstance(spec, dict):
        raise InvalidInputError(f"A filter must be an object of metadata keys, got {type(spec).__name__}.")
    parts: list[str] = []
    params: list[Any] = []
    for key, condition in spec.items():
        sql, values = _compile_key(key, condition)
        parts.append(sql)
        params.extend(values)
    return " AND ".join(f"({p})" for p in parts), params


def _compile_key(key: object, condition: object) -> tuple[str, list[Any]]:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidInputError(
            f"Filter key {key!r} must be a non-empty string without quotes or backslashes."
        )
    path = f'$."{key}"'
    if not isinstance(condition, dict):
        return _equal(path, key, condition)
    if not condition:
        raise InvalidInputError(f"Filter on {key!r} has an empty operator object; use one of {OPERATORS}.")
    parts: list[str] = []
    params: list[Any] = []
    for op, value in condition.items():
        sql, values = _operator(path, key, op, value)
        parts.append(sql)
        params.extend(values)
    return " AND ".join(parts), params


def _operator(path: str, key: str, op: object, value: object) -> tuple[str, list[Any]]:
    if op == "$eq":
        return _equal(path, key, value)
    if op == "$in":
        return _in(path, key, value)
    if isinstance(op, str) and op in _RANGE_SQL:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"Filter {key!r} {op} needs a number, got {value!r}.")
        sql = (
            "json_type(d.metadata, ?) IN ('integer', 'real') "
            f"AND json_extract(d.metadata, ?) {_RANGE_SQL[op]} ?"
        )
        return sql, [path, path, value]
    raise InvalidInputError(f"Unknown filter operator {op!r} on {key!r}; use one of {', '.join(OPERATORS)}.")


def _in(path: str, key: str, values: object) -> tuple[str, list[Any]]:
    if not isinstance(values, list | tuple):
        raise InvalidInputError(f"Filter {key!r} $in needs a list of values, got {values!r}.")
    if len(values) > _IN_LIMIT:
        raise InvalidInputError(f"Filter {key!r} $in has {len(values)} values; the limit is {_IN_LIMIT}.")
    if not values:
        return "0", []
    parts: list[str] = []
    params: list[Any] = []
    for value in values:
        sql, p = _equal(path, key, value)
        parts.append(f"({sql})")
        params.extend(p)
    return " OR ".join(parts), params


def _equal(path: str, key: str, value: object) -> tuple[str, list[Any]]:
    if value is None:
        return "json_type(d.metadata, ?) = 'null'", [path]
    if isinstance(value, bool):
        return "json_type(d.metadata, ?) = ?", [path, "true" if value else "false"]
    if isinstance(value, str):
        return "json_type(d.metadata, ?) = 'text' AND json_extract(d.metadata, ?) = ?", [path, path, value]
    if isinstance(value, int | float):
        sql = "json_type(d.metadata, ?) IN ('integer', 'real') AND json_extract(d.metadata, ?) = ?"
        return sql, [path, path, value]
    raise InvalidInputError(
        f"Filter {key!r} compares with {value!r}; only strings, numbers, booleans and null can be compared."
    )

"""Strict JSON for stored values: NaN and Infinity are refused, not written.

Python's ``json`` writes ``NaN`` / ``Infinity`` by default, which is not JSON: SQLite's ``json_extract``
then fails on the stored text, and every filtered search of the collection would fail with it. Every
surface (the store, the pipeline, the JSON Lines loader, the API) uses these functions, so all refuse
the same values with the same message.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rag.errors import InvalidInputError

NOT_FINITE = "NaN and Infinity are not JSON numbers (store them as strings or null)"


def dumps_strict(value: Any, what: str) -> str:
    """``value`` as JSON text; ``InvalidInputError`` naming ``what`` when it holds NaN, Infinity or a
    value JSON has no form for."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        raise InvalidInputError(f"{what} holds a number that is NaN or infinite: {NOT_FINITE}.") from None
    except TypeError as exc:
        raise InvalidInputError(f"{what} is not JSON: {exc}") from None


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` that refuses the ``NaN``, ``Infinity`` and ``-Infinity`` literals (ValueError)."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to Infinity
        raise ValueError(f"{text} is out of range ({NOT_FINITE})")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON ({NOT_FINITE})")

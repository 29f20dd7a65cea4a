"""Argument checks of the collection API and small helpers, kept apart so collection.py reads as the API."""

from __future__ import annotations

import numpy as np

from rag.errors import InvalidInputError
from rag.store.committed import Committed
from rag.types import VECTOR_MODES, Embeddings, SearchMode


def concatenate(batch: list[Embeddings], keep_floats: bool) -> Embeddings:
    floats = np.concatenate([e.floats for e in batch if e.floats is not None]) if keep_floats else None
    return Embeddings(
        np.concatenate([e.int8 for e in batch]), np.concatenate([e.bits for e in batch]), floats
    )


def check_top_k(top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive integer, got {top_k!r}.")


def check_multiplier(multiplier: int | None) -> None:
    """A positive integer, or None (``binary+int8`` then picks its depth: ``rag.store.depth``)."""
    if multiplier is None:
        return
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
        raise InvalidInputError(f"rescore_multiplier must be a positive integer, got {multiplier!r}.")


def check_search(query: Embeddings, mode: SearchMode, top_k: int, multiplier: int | None) -> None:
    if mode not in VECTOR_MODES:
        names = ", ".join(sorted(VECTOR_MODES))
        raise InvalidInputError(f"Unknown vector search mode {mode!r}; use one of {names}.")
    check_top_k(top_k)
    check_multiplier(multiplier)
    if len(query) != 1:
        raise InvalidInputError(f"search_vectors takes exactly one query embedding, got {len(query)}.")


def check_against(committed: Committed, query: Embeddings, mode: SearchMode) -> None:
    if committed.dimensions and query.dimensions != committed.dimensions:
        raise InvalidInputError(
            f"The query has {query.dimensions} dimensions; the collection holds {committed.dimensions}."
        )
    if mode is SearchMode.FLOAT_EXACT and not committed.keep_floats:
        raise InvalidInputError(
            "float-exact needs float vectors, and this collection does not keep them "
            "(create it with settings {'keep_floats': true})."
        )
    if mode is SearchMode.FLOAT_EXACT and query.floats is None:
        raise InvalidInputError("float-exact needs the query's float vector (embed with with_floats=True).")

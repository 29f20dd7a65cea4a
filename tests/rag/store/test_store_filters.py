"""Metadata filters against a Python reference of their semantics, over mixed-type metadata (hypothesis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.embedding.fake import HashEmbedder
from rag.fingerprint import CollectionFingerprint
from rag.quantization import quantize_tanh
from rag.store import Collection, Library
from rag.types import ChunkRecord, DocumentRecord

KEYS = ["a", "b", "c.d"]
VALUES: list[Any] = [0, 1, 2, 2.5, -1, "x", "y", "", "1", True, False, None]
MISSING = object()


def _metadata(i: int) -> dict[str, Any]:
    rng = np.random.default_rng(i)
    return {key: VALUES[rng.integers(len(VALUES))] for key in KEYS if rng.random() < 0.8}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collection, dict[str, dict[str, Any]]]]:
    library = Library(tmp_path_factory.mktemp("filters"))
    collection = library.create_collection(
        "mixed", fingerprint=CollectionFingerprint(HashEmbedder(16).fingerprint)
    )
    vectors = quantize_tanh(np.random.default_rng(0).standard_normal((80, 16)).astype(np.float32))
    metadata = {f"m{i}": _metadata(i) for i in range(80)}
    items = [
        (
            DocumentRecord(doc_id, "common text", doc_id, metadata=meta),
            [ChunkRecord(0, "common text", 0, 11, 2)],
            vectors.rows(i, i + 1),
        )
        for i, (doc_id, meta) in enumerate(metadata.items())
    ]
    collection.upsert_documents(items)
    yield collection, metadata
    library.close()


def _same(value: Any, target: Any) -> bool:
    if value is MISSING:
        return False
    if target is None or isinstance(target, bool | str):
        return type(value) is type(target) and value == target
    return isinstance(value, int | float) and not isinstance(value, bool) and value == target


def _reference(meta: dict[str, Any], spec: dict[str, Any]) -> bool:
    for key, condition in spec.items():
        value = meta.get(key, MISSING)
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        for op, target in ops.items():
            if op == "$eq":
                ok = _same(value, target)
            elif op == "$in":
                ok = any(_same(value, t) for t in target)
            else:
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                compare = {
                    "$gt": float.__gt__,
                    "$gte": float.__ge__,
                    "$lt": float.__lt__,
                    "$lte": float.__le__,
                }
                ok = numeric and compare[op](float(value), float(target))
            if not ok:
                return False
    return True


scalars = st.sampled_from(VALUES)
numbers = st.sampled_from([-1, 0, 1, 1.5, 2, 2.5, 3])
ranges = st.dictionaries(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numbers, min_size=1, max_size=2)
conditions = st.one_of(
    scalars,
    st.fixed_dictionaries({"$eq": scalars}),
    st.fixed_dictionaries({"$in": st.lists(scalars, max_size=3)}),
    ranges,
)
filters = st.dictionaries(st.sampled_from(KEYS), conditions, min_size=1, max_size=2)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=filters)
def test_filters_match_the_reference(
    mixed: tuple[Collection, dict[str, dict[str, Any]]], spec: dict[str, Any]
) -> None:
    collection, metadata = mixed
    expected = {doc_id for doc_id, meta in metadata.items() if _reference(meta, spec)}
    query = quantize_tanh(np.ones((1, 16), np.float32))
    dense, _ = collection.search_vectors(query, mode="int8-exact", top_k=100, filter=spec)
    assert {h.document_id for h in collection.hydrate(dense)} == expected
    lexical = collection.bm25("common", top_k=100, filter=spec)
    assert {h.document_id for h in collection.hydrate(lexical)} == expected

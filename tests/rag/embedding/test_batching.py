"""Token-budget batching, late-chunking spans and long-document windows (pure rules)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.embedding.batching import chunk_spans, plan_batches, plan_windows

LENGTHS = st.lists(st.integers(0, 300), max_size=40)


@settings(max_examples=80, deadline=None)
@given(LENGTHS, st.integers(1, 2000))
def test_batches_cover_every_index_within_the_budget(lengths: list[int], budget: int) -> None:
    batches = plan_batches(lengths, budget)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        width = max(max(lengths[i] for i in batch), 1)
        assert len(batch) == 1 or len(batch) * width <= budget


def test_batches_bucket_similar_lengths() -> None:
    batches = plan_batches([5, 100, 6, 98, 7, 99], 300)
    assert batches == [[1, 5, 3], [4, 2, 0]]


def test_spans_exclude_separators_and_keep_empty_chunks() -> None:
    sep = 9
    assert chunk_spans([1, 2, sep, 3, sep, sep, 4], sep, 4) == [(0, 2), (3, 4), (5, 5), (6, 7)]
    # A trailing EOS with the separator's id adds an empty span that is dropped.
    assert chunk_spans([1, 2, sep, 3, sep], sep, 2) == [(0, 2), (3, 4)]
    assert chunk_spans([], sep, 1) == [(0, 0)]
    with pytest.raises(ValueError):
        chunk_spans([1, 2], sep, 2)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=30), st.integers(20, 120), st.integers(0, 2))
def test_windows_cover_chunks_in_order_within_the_limit(chunks: list[int], limit: int, overhead: int) -> None:
    windows = plan_windows(chunks, limit, overhead)
    assert [i for window in windows for i in window] == list(range(len(chunks)))
    for window in windows:
        cost = sum(chunks[i] for i in window) + len(window) - 1 + overhead
        assert len(window) == 1 or cost <= limit
    # Greedy: the next window's first chunk would not have fitted in the previous window.
    for before, after in zip(windows, windows[1:], strict=False):
        cost = sum(chunks[i] for i in before) + len(before) + chunks[after[0]] + overhead
        assert cost > limit

"""Fusion of dense and lexical rankings, against values computed by hand."""

from __future__ import annotations

import pytest

from rag.errors import InvalidInputError
from rag.fusion import DEFAULT_HYBRID, fuse, resolve_hybrid

DENSE = [(1, 0.9), (2, 0.7), (3, 0.5)]
LEXICAL = [(3, 12.0), (4, 8.0), (1, 2.0)]


def test_rrf_unweighted_matches_hand_computed_values() -> None:
    fused = dict(fuse(DENSE, LEXICAL, method="rrf", weight=0.5, top_k=10))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 63)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[4] == pytest.approx(1 / 62)


def test_rrf_ties_break_towards_the_dense_rank_then_the_lexical_rank() -> None:
    # 1 and 3 tie (ranks 1+3 and 3+1); 2 and 4 tie (dense 2 vs lexical 2). Dense wins ties at w = 0.5.
    assert [doc for doc, _ in fuse(DENSE, LEXICAL, method="rrf", weight=0.5, top_k=10)] == [1, 3, 2, 4]


def test_rrf_weight_and_k() -> None:
    fused = dict(fuse(DENSE, LEXICAL, method="rrf", weight=0.25, top_k=10, k=0))
    assert fused[1] == pytest.approx(2 * (0.25 / 1 + 0.75 / 3))
    assert fused[4] == pytest.approx(2 * 0.75 / 2)


def test_convex_min_max_matches_hand_computed_values() -> None:
    # dense: 1 -> 1.0, 2 -> 0.5, 3 -> 0.0; lexical: 3 -> 1.0, 4 -> 0.6, 1 -> 0.0; floors 0.
    fused = fuse(DENSE, LEXICAL, method="convex", weight=0.3, top_k=10)
    assert [doc for doc, _ in fused] == [3, 4, 1, 2]
    scores = dict(fused)
    assert scores[3] == pytest.approx(0.7)
    assert scores[4] == pytest.approx(0.42)
    assert scores[1] == pytest.approx(0.3)
    assert scores[2] == pytest.approx(0.15)


def test_convex_missing_document_gets_the_list_floor() -> None:
    fused = dict(fuse([(1, 2.0), (2, 1.0)], [(3, 5.0), (1, 1.0)], method="convex", weight=0.5, top_k=10))
    assert fused[2] == pytest.approx(0.0)  # dense 0.0, lexical floor 0.0
    assert fused[3] == pytest.approx(0.5)  # dense floor 0.0, lexical 1.0
    assert fused[1] == pytest.approx(0.5)


@pytest.mark.parametrize("method", ["rrf", "convex"])
def test_extreme_weights_reproduce_one_list(method: str) -> None:
    dense_only = fuse(DENSE, LEXICAL, method=method, weight=1.0, top_k=3)
    lexical_only = fuse(DENSE, LEXICAL, method=method, weight=0.0, top_k=3)
    assert [doc for doc, _ in dense_only] == [1, 2, 3]
    assert [doc for doc, _ in lexical_only] == [3, 4, 1]


def test_equal_scores_all_count_as_best_and_empty_lists_are_allowed() -> None:
    fused = dict(fuse([(7, 0.4)], [], method="convex", weight=0.6, top_k=5))
    assert fused == {7: pytest.approx(0.6)}
    assert fuse([], [], method="rrf", weight=0.5, top_k=5) == []


def test_top_k_truncates_and_duplicates_keep_their_best_entry() -> None:
    fused = fuse([(1, 0.9), (1, 0.1), (2, 0.5)], LEXICAL, method="convex", weight=0.5, top_k=2)
    assert len(fused) == 2
    assert dict(fuse([(1, 0.9), (1, 0.1), (2, 0.5)], [], method="convex", weight=1.0, top_k=5))[1] == 1.0


@pytest.mark.parametrize(
    ("method", "weight", "top_k", "k"),
    [
        ("sum", 0.5, 10, 60),
        ("rrf", 1.5, 10, 60),
        ("convex", -0.1, 10, 60),
        ("rrf", 0.5, 0, 60),
        ("rrf", 0.5, 10, -1),
        ("convex", float("nan"), 10, 60),
    ],
)
def test_bad_arguments_are_refused(method: str, weight: float, top_k: int, k: int) -> None:
    with pytest.raises(InvalidInputError):
        fuse(DENSE, LEXICAL, method=method, weight=weight, top_k=top_k, k=k)


def test_resolve_hybrid_puts_stored_settings_over_the_default() -> None:
    assert resolve_hybrid(None) == DEFAULT_HYBRID
    stored = {"hybrid": {"method": "convex", "weight": 0.2, "source": "tuned"}}
    assert resolve_hybrid(stored)["weight"] == 0.2
    assert resolve_hybrid({"other": 1})["method"] == DEFAULT_HYBRID["method"]
    assert DEFAULT_HYBRID["method"] in ("rrf", "convex") and 0.0 <= DEFAULT_HYBRID["weight"] <= 1.0


def test_convex_anchors_zero_at_norm_depth_and_deeper_entries_go_below_it() -> None:
    dense = [(i, 1.0 - i / 10) for i in range(8)]  # 1.0, 0.9, ..., 0.3
    lexical = [(i + 4, 8.0 - i) for i in range(8)]  # ids 4..11, 8.0 .. 1.0
    shallow = dict(fuse(dense[:3], lexical[:3], method="convex", weight=0.5, top_k=20, norm_depth=3))
    deep = dict(fuse(dense, lexical, method="convex", weight=0.5, top_k=20, norm_depth=3))
    # Rank 3 anchors 0: dense 0.8 -> 0, lexical 6.0 -> 0; id 0 is dense-only: 0.5 * 1 + 0.5 * floor.
    assert shallow[0] == pytest.approx(0.5)
    assert deep[1] == pytest.approx(0.5 * 0.5 + 0.5 * (-5.0 / 2.0))  # lexical floor: (1 - 6) / 2
    assert deep[5] == pytest.approx(0.5 * (0.5 - 0.8) / 0.2 + 0.5 * 0.5)  # dense 0.5, lexical 7.0
    assert deep[4] == pytest.approx(0.5 * (0.6 - 0.8) / 0.2 + 0.5 * 1.0)
    assert deep[0] == pytest.approx(0.5 * 1.0 + 0.5 * (-5.0 / 2.0))
    assert [d for d, _ in fuse(dense, lexical, method="convex", weight=0.5, top_k=2, norm_depth=3)] == [4, 5]


def test_equal_scores_down_to_the_anchor_count_as_best() -> None:
    fused = dict(fuse([(1, 0.5), (2, 0.5), (3, 0.1)], [], method="convex", weight=1.0, top_k=5, norm_depth=2))
    assert fused == {1: 1.0, 2: 1.0, 3: 0.0}


def test_convex_scores_of_documents_in_both_top_lists_do_not_depend_on_depth() -> None:
    dense = [(i, 1.0 - i / 100) for i in range(50)]
    lexical = [(49 - i, 30.0 - i / 2) for i in range(50)]
    shallow = dict(fuse(dense[:10], lexical[:45], method="convex", weight=0.3, top_k=100, norm_depth=5))
    deep = dict(fuse(dense, lexical, method="convex", weight=0.3, top_k=100, norm_depth=5))
    for doc in range(5, 10):  # within the first 10 dense and the first 45 lexical entries
        assert shallow[doc] == pytest.approx(deep[doc])

"""Retrieval measures against hand-computed values, and against trec_eval (via ir-measures) when installed."""

from __future__ import annotations

import math
import random

import pytest

from rag.metrics import (
    Span,
    answer_measures,
    document_measures,
    documents_by_best_chunk,
    first_answer_rank,
    mean_measures,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
    retention,
)

L2 = math.log2


def test_ndcg_by_hand() -> None:
    qrels = {"a": 2, "b": 1, "z": 1}
    # DCG = 1/log2(3) (b at 2) + 2/log2(4) (a at 3); IDCG = 2/1 + 1/log2(3) + 1/log2(4).
    expected = (1 / L2(3) + 2 / 2) / (2 + 1 / L2(3) + 1 / 2)
    assert ndcg_at_k(["x", "b", "a"], qrels, 10) == pytest.approx(expected)
    # The cut applies to the ideal ranking as well: only a's gain counts at k = 1.
    assert ndcg_at_k(["a", "b"], qrels, 1) == pytest.approx(1.0)
    assert ndcg_at_k(["b"], qrels, 1) == pytest.approx(0.5)
    assert ndcg_at_k(["x"], {"x": 0}, 10) == 0.0


def test_recall_and_mrr_by_hand() -> None:
    qrels = {"a": 1, "b": 1, "c": 0}
    assert recall_at_k(["c", "a", "x"], qrels, 10) == pytest.approx(0.5)
    assert recall_at_k(["c", "x", "a"], qrels, 2) == 0.0
    assert mrr_at_k(["c", "x", "b"], qrels, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["c", "x", "b"], qrels, 2) == 0.0
    assert recall_at_k(["a"], {}, 10) == 0.0


def test_document_measures_and_means() -> None:
    one = document_measures(["a"], {"a": 1})
    two = document_measures(["x"], {"a": 1})
    assert one == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    assert mean_measures([one, two]) == {"ndcg@10": 0.5, "recall@10": 0.5, "recall@100": 0.5, "mrr@10": 0.5}
    assert mean_measures([]) == {}
    assert mean_measures([{"a": 1.0}, {"a": 0.0, "b": 1.0}]) == {"a": 0.5, "b": 1.0}


def test_documents_by_best_chunk_keeps_first_occurrence() -> None:
    assert documents_by_best_chunk(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]


def test_answer_spans_overlap_only_in_the_same_document() -> None:
    answer = Span("d1", 100, 120)
    assert Span("d1", 90, 101).overlaps(answer)
    assert not Span("d1", 80, 100).overlaps(answer)  # half-open: touching is not overlapping
    assert not Span("d1", 120, 200).overlaps(answer)
    assert not Span("d2", 100, 120).overlaps(answer)
    chunks = [Span("d2", 0, 500), Span("d1", 0, 50), Span("d1", 110, 300)]
    assert first_answer_rank(chunks, [answer], 10) == 3
    assert first_answer_rank(chunks, [answer], 2) is None
    assert answer_measures(chunks, [answer]) == {
        "answer_hit@1": 0.0,
        "answer_hit@10": 1.0,
        "answer_mrr@10": pytest.approx(1 / 3),
    }
    assert answer_measures([Span("d1", 100, 101)], [answer])["answer_hit@1"] == 1.0


def test_percentile_and_retention() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)
    with pytest.raises(ValueError):
        percentile([], 50)
    assert retention(0.6, 0.8) == pytest.approx(0.75)
    assert retention(0.6, 0.0) is None


def test_measures_agree_with_trec_eval() -> None:
    ir_measures = pytest.importorskip("ir_measures")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(150)]
    qrels: dict[str, dict[str, int]] = {}
    runs: dict[str, list[str]] = {}
    for q in range(25):
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[f"q{q}"] = {doc: rng.choice([0, 1, 1, 2]) for doc in judged}
        qrels[f"q{q}"][judged[0]] = 1  # at least one relevant document per query
        runs[f"q{q}"] = rng.sample(docs, 120)
    # Distinct descending scores so trec_eval sorts the run exactly as listed.
    run = {q: {doc: float(len(r) - i) for i, doc in enumerate(r)} for q, r in runs.items()}
    names = {"ndcg@10": "nDCG@10", "recall@10": "R@10", "recall@100": "R@100", "mrr@10": "RR@10"}
    oracle = ir_measures.calc_aggregate([ir_measures.parse_measure(m) for m in names.values()], qrels, run)
    ours = mean_measures([document_measures(runs[q], qrels[q]) for q in sorted(qrels)])
    for key, name in names.items():
        assert ours[key] == pytest.approx(oracle[ir_measures.parse_measure(name)], abs=1e-9), key

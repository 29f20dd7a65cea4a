"""Retrieval quality measures (pure; no I/O).

Document measures follow trec_eval as BEIR runs it (``pytrec_eval``): nDCG with linear gains
(``rel / log2(rank + 1)``) against the ideal ordering of every judged document, recall over the documents
judged relevant (grade > 0), MRR as the reciprocal rank of the first relevant document within the cut.
Queries enter the means only when they have at least one relevant document, as in BEIR.

Chunk measures judge chunks by character spans: a chunk answers a query when it belongs to the answer's
document and its span ``[char_start, char_end)`` overlaps the answer's ``[start, end)``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Qrels = Mapping[str, int]  # document id -> graded relevance


@dataclass(frozen=True)
class Span:
    """A character span inside one document."""

    doc_id: str
    start: int
    end: int

    def overlaps(self, other: Span) -> bool:
        return self.doc_id == other.doc_id and self.start < other.end and other.start < self.end


def ndcg_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """nDCG@k of one ranking (document ids best first); 0 when nothing is relevant."""
    ideal = sorted((rel for rel in qrels.values() if rel > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(rank + 1) for rank, rel in enumerate(ideal, start=1))
    if idcg == 0.0:
        return 0.0
    dcg = sum(max(qrels.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1))
    return dcg / idcg


def recall_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """Share of the relevant documents found in the first k; 0 when nothing is relevant."""
    relevant = {doc for doc, rel in qrels.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """1 / rank of the first relevant document within the first k, else 0."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def documents_by_best_chunk(chunk_documents: Iterable[str]) -> list[str]:
    """Document ids in the order of their best chunk (chunk document ids come best first)."""
    return list(dict.fromkeys(chunk_documents))


def first_answer_rank(chunks: Sequence[Span], answers: Sequence[Span], k: int) -> int | None:
    """1-based rank of the first chunk among the first k that overlaps an answer span, else None."""
    for rank, chunk in enumerate(chunks[:k], start=1):
        if any(chunk.overlaps(answer) for answer in answers):
            return rank
    return None


def answer_measures(chunks: Sequence[Span], answers: Sequence[Span]) -> dict[str, float]:
    """answer_hit@1, answer_hit@10 and answer_mrr@10 of one query's retrieved chunks."""
    rank = first_answer_rank(chunks, answers, 10)
    return {
        "answer_hit@1": 1.0 if rank == 1 else 0.0,
        "answer_hit@10": 0.0 if rank is None else 1.0,
        "answer_mrr@10": 0.0 if rank is None else 1.0 / rank,
    }


def document_measures(ranked: Sequence[str], qrels: Qrels) -> dict[str, float]:
    """nDCG@10, Recall@10, Recall@100 and MRR@10 of one query's document ranking."""
    return {
        "ndcg@10": ndcg_at_k(ranked, qrels, 10),
        "recall@10": recall_at_k(ranked, qrels, 10),
        "recall@100": recall_at_k(ranked, qrels, 100),
        "mrr@10": mrr_at_k(ranked, qrels, 10),
    }


def mean_measures(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each measure over the queries that have it (a query without answer spans has no
    answer measures); keys in order of first appearance; empty input gives {}."""
    keys = list(dict.fromkeys(key for query in per_query for key in query))
    return {key: statistics.fmean(query[key] for query in per_query if key in query) for key in keys}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must lie in [0, 100], got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def retention(value: float, reference: float) -> float | None:
    """value / reference, or None when the reference is 0 (nothing to retain)."""
    return None if reference == 0.0 else value / reference

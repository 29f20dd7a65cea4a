"""Choosing a collection's hybrid weight from its own judged queries (``rag eval --tune``).

The dense (``binary+int8``) and lexical (``bm25``) chunk lists of each query are retrieved once; every
candidate weight then fuses those same lists (``rag.fusion.fuse``), so a sweep costs no further searches.
The weight that maximises the target measure (``answer_hit@10`` where the data set has answer spans, else
``nDCG@10``) wins; ties go to the better ``answer_mrr@10`` (``MRR@10``), then to the weight nearest 0.5,
the least committed choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.evaluation_data import BeirDataset
from rag.fusion import fuse
from rag.metrics import mean_measures
from rag.types import Hit, SearchMode

WEIGHTS = tuple(round(step / 10, 1) for step in range(11))
DENSE_MODE = SearchMode.BINARY_INT8
LEXICAL_MODE = SearchMode.BM25

Measure = Callable[[BeirDataset, str, Sequence[Hit]], dict[str, float]]


@dataclass
class QueryLists:
    """One query's chunk hits by mode (best first)."""

    hits: dict[str, list[Hit]] = field(default_factory=dict)

    def add(self, mode: str, hits: Sequence[Hit]) -> None:
        self.hits[mode] = list(hits)

    def fused(self, method: str, weight: float, top_k: int) -> list[Hit]:
        """The dense and lexical lists fused, as hits."""
        dense = self.hits.get(DENSE_MODE, [])
        lexical = self.hits.get(LEXICAL_MODE, [])
        by_id = {hit.chunk_id: hit for hit in (*lexical, *dense)}
        scored = fuse(
            [(h.chunk_id, h.score) for h in dense],
            [(h.chunk_id, h.score) for h in lexical],
            method=method,
            weight=weight,
            top_k=top_k,
        )
        return [by_id[chunk_id] for chunk_id, _ in scored]


def target_metric(dataset: BeirDataset) -> tuple[str, str]:
    """The measure to maximise and the one that breaks its ties (finer-grained, same family)."""
    if dataset.has_answers:
        return "answer_hit@10", "answer_mrr@10"
    return "ndcg@10", "mrr@10"


def sweep(
    dataset: BeirDataset, lists: dict[str, QueryLists], measure: Measure
) -> dict[str, dict[str, float]]:
    """Mean measures of RRF (k=60) and of the convex combination at each weight in ``WEIGHTS``."""
    configs = [("rrf", 0.5)] + [("convex", weight) for weight in WEIGHTS]
    results: dict[str, dict[str, float]] = {}
    for method, weight in configs:
        per_query = []
        for qid in dataset.queries:
            top_k = sum(len(hits) for hits in lists[qid].hits.values()) or 1
            per_query.append(measure(dataset, qid, lists[qid].fused(method, weight, top_k)))
        key = "rrf" if method == "rrf" else f"convex@{weight:.1f}"
        results[key] = {name: round(value, 4) for name, value in mean_measures(per_query).items()}
    return results


def best_weight(results: dict[str, dict[str, float]], metric: str, tie_break: str) -> float:
    """The convex weight with the best ``metric``, then ``tie_break``, then nearest 0.5, then smallest."""
    candidates = [
        (float(key.split("@", 1)[1]), values[metric], values[tie_break])
        for key, values in results.items()
        if key != "rrf"
    ]
    # Distances are rounded so that 0.3 and 0.7 tie exactly; the smaller weight then wins, for determinism.
    return max(candidates, key=lambda item: (item[1], item[2], -round(abs(item[0] - 0.5), 6), -item[0]))[0]


def tuned_settings(dataset: BeirDataset, lists: dict[str, QueryLists], measure: Measure) -> dict[str, Any]:
    """The hybrid settings to store with the collection, with how they were chosen."""
    metric, tie_break = target_metric(dataset)
    results = sweep(dataset, lists, measure)
    weight = best_weight(results, metric, tie_break)
    return {
        "method": "convex",
        "weight": weight,
        "source": "tuned",
        "metric": metric,
        "value": results[f"convex@{weight:.1f}"][metric],
        "split": dataset.split,
        "queries": len(dataset.queries),
    }

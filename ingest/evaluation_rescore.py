"""How much of int8-exact's ranking ``binary+int8`` keeps at each rescoring depth (``rag eval``'s
``rescore`` section, and the plot of retention against the average depth).

``binary+int8`` rescores Hamming candidates by int8 cosine. The sweep measures, as ``run_mode`` measures a
mode (documents over ``doc_top_k`` chunks, answer hits over a user's ten):

- ``multipliers``: fixed pools of exactly ``top_k x m`` candidates, WITHOUT the searcher's pool floor of
  ``MIN_CANDIDATES`` (read from the store directly), so the depth really varies (with the floor, every
  multiplier under ``MIN_CANDIDATES / top_k`` rescored the same pool and the curve was flat);
- ``fixed_default``: the searcher with ``rescore_multiplier=4`` (``max(top_k x 4, MIN_CANDIDATES)``), the
  default before the adaptive depth;
- ``adaptive``: the searcher's default, the adaptive depth of ``rag.store.depth`` (the mode table's
  ``binary+int8`` row).

Each row carries ``depth`` (candidates rescored per query, averaged, at ``doc_top_k``: behind nDCG@10) and
``depth_top10`` (at ``top_k=10``: behind answer_hit@10); retention is each measure as a share of the
reference, ``int8-exact`` (the ranking the cascade approximates), else ``float-exact``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ingest.evaluation_data import BeirDataset
from ingest.evaluation_modes import USER_TOP_K, query_measures
from rag.embedding.base import Embedder
from rag.metrics import mean_measures, retention
from rag.search import MIN_CANDIDATES, Searcher
from rag.types import Embeddings, Hit, SearchMode

RESCORE_MODE = SearchMode.BINARY_INT8
RESCORE_MULTIPLIERS = (1, 2, 4, 8, 16)
RESCORE_REFERENCES = (SearchMode.INT8_EXACT, SearchMode.FLOAT_EXACT)
DEFAULT_FIXED_MULTIPLIER = 4
MEASURES = ("ndcg@10", "answer_hit@10")

# one search: (query text, its embedding, top_k) -> (hits, candidates rescored)
Run = Callable[[str, Embeddings, int], tuple[list[Hit], int]]


def rescore_sweep(
    searcher: Searcher,
    embedder: Embedder,
    dataset: BeirDataset,
    report: dict[str, dict[str, Any]],
    *,
    doc_top_k: int,
    multipliers: Sequence[int] = RESCORE_MULTIPLIERS,
) -> dict[str, Any] | None:
    """nDCG@10, answer_hit@10 and the average depth of ``binary+int8`` at each fixed multiplier, at the
    former default pool and at the adaptive depth, with their retention of the reference mode in
    ``report``; None when that report has no exact mode to compare with."""
    reference = next((mode for mode in RESCORE_REFERENCES if mode in report), None)
    if reference is None:
        return None
    if any(multiplier < 1 for multiplier in multipliers):
        raise ValueError(f"rescore multipliers must be at least 1, not {list(multipliers)}")
    qids = list(dataset.queries)
    texts = [dataset.queries[qid] for qid in qids]
    embedded = embedder.embed_queries(texts)

    def measure(run: Run) -> dict[str, Any]:
        return _measure(dataset, qids, texts, embedded, run, doc_top_k, report[reference])

    rows = [{"multiplier": m, **measure(_unfloored(searcher, m))} for m in multipliers]
    fixed = measure(_searcher_run(searcher, DEFAULT_FIXED_MULTIPLIER))
    adaptive = measure(_searcher_run(searcher, None))
    return {
        "mode": RESCORE_MODE,
        "reference": reference,
        "multipliers": rows,
        "fixed_default": {"multiplier": DEFAULT_FIXED_MULTIPLIER, "floor": MIN_CANDIDATES, **fixed},
        "adaptive": {
            "margin": searcher.adaptive.margin,
            "tail_margin": searcher.adaptive.tail_margin,
            **adaptive,
        },
    }


def _unfloored(searcher: Searcher, multiplier: int) -> Run:
    """Exactly ``top_k x multiplier`` candidates, from the store (the searcher's floor bypassed)."""

    def run(text: str, query: Embeddings, top_k: int) -> tuple[list[Hit], int]:
        with searcher.collection.reading() as view:
            scored, stage = view.search_vectors(
                query, mode=RESCORE_MODE, top_k=top_k, rescore_multiplier=multiplier, filter=None
            )
            return view.hydrate(scored), int(stage.get("candidates", 0))

    return run


def _searcher_run(searcher: Searcher, multiplier: int | None) -> Run:
    def run(text: str, query: Embeddings, top_k: int) -> tuple[list[Hit], int]:
        result = searcher.search_embedded(
            text, query, top_k=top_k, mode=RESCORE_MODE, rescore_multiplier=multiplier
        )
        return result.hits, result.candidates or 0

    return run


def _measure(
    dataset: BeirDataset,
    qids: list[str],
    texts: list[str],
    embedded: Embeddings,
    run: Run,
    doc_top_k: int,
    reference: dict[str, Any],
) -> dict[str, Any]:
    per_query, depths, user_depths = [], [], []
    for index, qid in enumerate(qids):
        query = embedded.rows(index, index + 1)
        hits, depth = run(texts[index], query, doc_top_k)
        # a user's ten, with the pool a user's query gets: answer hits and the depth at top_k=10
        user, user_depth = (hits, depth) if doc_top_k == USER_TOP_K else run(texts[index], query, USER_TOP_K)
        depths.append(depth)
        user_depths.append(user_depth)
        measures = query_measures(dataset, qid, hits)
        if qid in dataset.answers:
            answers = query_measures(dataset, qid, user).items()
            measures.update({key: value for key, value in answers if key.startswith("answer_")})
        per_query.append(measures)
    return _row(mean_measures(per_query), reference, depths, user_depths)


def _row(
    means: dict[str, float], reference: dict[str, Any], depths: list[int], user_depths: list[int]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "depth": round(sum(depths) / max(len(depths), 1), 1),
        "depth_top10": round(sum(user_depths) / max(len(user_depths), 1), 1),
    }
    for key in MEASURES:
        if key not in means:
            continue
        row[key] = round(means[key], 4)
        kept = retention(means[key], reference[key]) if key in reference else None
        row[f"retention_{key}"] = None if kept is None else round(kept, 4)
    return row

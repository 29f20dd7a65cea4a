"""How much of the exact ranking ``binary+int8`` keeps as its rescoring pool grows (``rag eval``'s
``rescore`` section, and the plot of retention against the multiplier).

``binary+int8`` takes ``top_k x rescore_multiplier`` candidates by Hamming distance and rescores them by
int8 cosine. Each multiplier is measured as ``run_mode`` measures a mode (documents over ``doc_top_k``
chunks, answer hits over a user's ten), so the row at the default multiplier (4) repeats the mode table's
``binary+int8`` row; retention is each value as a share of the exact reference mode's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.evaluation_data import BeirDataset
from ingest.evaluation_modes import EXACT_MODES, USER_TOP_K, query_measures
from rag.embedding.base import Embedder
from rag.metrics import mean_measures, retention
from rag.search import Searcher
from rag.types import SearchMode

RESCORE_MODE = SearchMode.BINARY_INT8
RESCORE_MULTIPLIERS = (1, 2, 4, 8, 16)
MEASURES = ("ndcg@10", "answer_hit@10")


def rescore_sweep(
    searcher: Searcher,
    embedder: Embedder,
    dataset: BeirDataset,
    report: dict[str, dict[str, Any]],
    *,
    doc_top_k: int,
    multipliers: Sequence[int] = RESCORE_MULTIPLIERS,
) -> dict[str, Any] | None:
    """nDCG@10 and answer_hit@10 of ``binary+int8`` at each multiplier, and their retention against the
    best exact mode in ``report``; None when that report has no exact mode to compare with."""
    reference = next((mode for mode in EXACT_MODES if mode in report), None)
    if reference is None:
        return None
    if any(multiplier < 1 for multiplier in multipliers):
        raise ValueError(f"rescore multipliers must be at least 1, not {list(multipliers)}")
    qids = list(dataset.queries)
    texts = [dataset.queries[qid] for qid in qids]
    embedded = embedder.embed_queries(texts)
    rows = []
    for multiplier in multipliers:
        per_query = []
        for index, qid in enumerate(qids):
            query = embedded.rows(index, index + 1)
            hits = searcher.search_embedded(
                texts[index], query, top_k=doc_top_k, mode=RESCORE_MODE, rescore_multiplier=multiplier
            ).hits
            measures = query_measures(dataset, qid, hits)
            if qid in dataset.answers:  # answers over the user's ten, with the pool a user's query gets
                user = searcher.search_embedded(
                    texts[index], query, top_k=USER_TOP_K, mode=RESCORE_MODE, rescore_multiplier=multiplier
                ).hits
                answers = query_measures(dataset, qid, user).items()
                measures.update({key: value for key, value in answers if key.startswith("answer_")})
            per_query.append(measures)
        rows.append(_row(multiplier, mean_measures(per_query), report[reference]))
    return {"mode": RESCORE_MODE, "reference": reference, "multipliers": rows}


def _row(multiplier: int, means: dict[str, float], reference: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"multiplier": multiplier}
    for key in MEASURES:
        if key not in means:
            continue
        row[key] = round(means[key], 4)
        kept = retention(means[key], reference[key]) if key in reference else None
        row[f"retention_{key}"] = None if kept is None else round(kept, 4)
    return row

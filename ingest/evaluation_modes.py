"""Running a data set's queries in each search mode and measuring them (``rag.metrics``).

Documents are judged, chunks are retrieved, so documents are ranked by their best chunk. Each query runs
three searches per mode, so that every measure sees the depth a user's query would:

- ``top_k=10`` as a user sends it (query embedding included): the latency, the stage timings, and the
  chunk measures where the data set has answer spans (``answer_hit@1``, ``answer_hit@10``,
  ``answer_mrr@10``);
- ``top_k = 10 x ceil(chunks per document)``: enough chunks for ten distinct documents, hence nDCG@10,
  Recall@10 and MRR@10 with a realistic rescoring pool (``binary+int8`` rescoring ``4 x top_k``);
- ``top_k = CHUNK_DEPTH`` (1000): Recall@100, and the chunk lists that fusion sweeps reuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.evaluation_data import BeirDataset
from ingest.evaluation_tuning import DENSE_MODE, LEXICAL_MODE, QueryLists, sweep, tuned_settings
from rag.embedding.base import Embedder
from rag.fusion import resolve_hybrid
from rag.metrics import (
    Span,
    answer_measures,
    document_measures,
    documents_by_best_chunk,
    mean_measures,
    percentile,
    retention,
)
from rag.search import Searcher
from rag.timing import elapsed_ms
from rag.types import Embeddings, Hit, SearchMode

EVAL_MODES = tuple(SearchMode)
# the reference for retention, best first
EXACT_MODES = (SearchMode.FLOAT_EXACT, SearchMode.INT8_EXACT)
CHUNK_DEPTH = 1000
DOC_DEPTH = 100
USER_TOP_K = 10

Progress = Callable[[str], None]


@dataclass
class ModeRun:
    """One mode's measures over the queries, and the query latencies."""

    measures: dict[str, float]
    latency_ms: list[float]
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    candidates: list[int] = field(default_factory=list)  # rescored per user query (binary+int8, hybrid)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: round(value, 4) for key, value in self.measures.items()}
        out["latency_ms_p50"] = round(percentile(self.latency_ms, 50), 3) if self.latency_ms else None
        out["stages_ms_p50"] = {k: round(percentile(v, 50), 3) for k, v in self.stage_ms.items() if v}
        if self.candidates:
            out["depth_top10"] = round(sum(self.candidates) / len(self.candidates), 1)
        return out


def query_measures(dataset: BeirDataset, qid: str, hits: Sequence[Hit]) -> dict[str, float]:
    """All measures from one chunk list: documents ranked by best chunk, answers from its first ten."""
    ranked = documents_by_best_chunk(hit.document_id for hit in hits)[:DOC_DEPTH]
    measures = document_measures(ranked, dataset.qrels[qid])
    measures.update(_answers(dataset, qid, hits))
    return measures


def _answers(dataset: BeirDataset, qid: str, hits: Sequence[Hit]) -> dict[str, float]:
    if qid not in dataset.answers:
        return {}  # no answer span for this query: it is left out of the answer means
    spans = [Span(hit.document_id, hit.char_start, hit.char_end) for hit in hits[:USER_TOP_K]]
    return answer_measures(spans, dataset.answers[qid])


def documents_top_k(chunks: int, documents: int) -> int:
    """Chunks to retrieve for ten distinct documents: 10 x the chunks per document, rounded up."""
    per_document = -(-chunks // max(documents, 1))
    return min(CHUNK_DEPTH, USER_TOP_K * max(per_document, 1))


def run_mode(
    searcher: Searcher,
    embedder: Embedder,
    dataset: BeirDataset,
    mode: SearchMode,
    *,
    doc_top_k: int,
    lists: dict[str, QueryLists] | None = None,
) -> ModeRun:
    """Every query of ``dataset`` in ``mode`` at the three depths; deep lists go to ``lists`` when given."""
    qids = list(dataset.queries)
    texts = [dataset.queries[qid] for qid in qids]
    embedded = embedder.embed_queries(texts, with_floats=mode is SearchMode.FLOAT_EXACT)
    per_query: list[dict[str, float]] = []
    latency: list[float] = []
    stages: dict[str, list[float]] = {}
    candidates: list[int] = []
    for index, qid in enumerate(qids):
        query = embedded.rows(index, index + 1)
        started = time.perf_counter()
        user = searcher.search(texts[index], top_k=USER_TOP_K, mode=mode)
        latency.append(elapsed_ms(started))
        for stage, ms in user.timings.items():
            stages.setdefault(stage, []).append(ms)
        if user.candidates is not None:
            candidates.append(user.candidates)
        deep = searcher.search_embedded(texts[index], query, top_k=CHUNK_DEPTH, mode=mode).hits
        top = deep if doc_top_k >= CHUNK_DEPTH else _search(searcher, texts[index], query, doc_top_k, mode)
        measures = query_measures(dataset, qid, top)
        measures["recall@100"] = query_measures(dataset, qid, deep)["recall@100"]
        measures.update(_answers(dataset, qid, user.hits))
        per_query.append(measures)
        if lists is not None:
            lists.setdefault(qid, QueryLists()).add(mode, deep)
    return ModeRun(mean_measures(per_query), latency, stages, candidates)


def _search(searcher: Searcher, text: str, query: Embeddings, top_k: int, mode: SearchMode) -> list[Hit]:
    return searcher.search_embedded(text, query, top_k=top_k, mode=mode).hits


def available_modes(has_floats: bool, modes: Sequence[SearchMode] = EVAL_MODES) -> list[SearchMode]:
    """The modes to run; ``float-exact`` only where the collection keeps float vectors."""
    return [mode for mode in modes if mode is not SearchMode.FLOAT_EXACT or has_floats]


def evaluate_modes(
    searcher: Searcher,
    embedder: Embedder,
    dataset: BeirDataset,
    modes: Sequence[SearchMode],
    *,
    doc_top_k: int,
    progress: Progress | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, QueryLists]]:
    """Measures of each mode, retention against the best exact mode, and the dense/lexical chunk lists."""
    lists: dict[str, QueryLists] = {}
    report: dict[str, dict[str, Any]] = {}
    for mode in modes:
        if progress:
            progress(f"{dataset.name}: {mode} over {len(dataset.queries)} queries")
        run = run_mode(searcher, embedder, dataset, mode, doc_top_k=doc_top_k, lists=lists)
        report[mode] = run.summary()
    add_retention(report)
    return report, lists


def add_retention(report: dict[str, dict[str, Any]]) -> None:
    """Each mode's nDCG@10 (and answer_hit@10 where measured) as a share of the best exact mode's."""
    reference = next((mode for mode in EXACT_MODES if mode in report), None)
    if reference is None:
        return
    for values in report.values():
        values["retention_ref"] = reference
        for key in ("ndcg@10", "answer_hit@10"):
            if key in values and key in report[reference]:
                kept = retention(values[key], report[reference][key])
                values[f"retention_{key}"] = None if kept is None else round(kept, 4)


def hybrid_report(
    collection_settings: dict[str, Any], lists: dict[str, QueryLists], dataset: BeirDataset
) -> dict[str, Any]:
    """The hybrid settings the collection used and a weight sweep over this split's chunk lists (only when
    both ``binary+int8`` and ``bm25`` ran: the sweep fuses their lists)."""
    report: dict[str, Any] = {"settings": resolve_hybrid(collection_settings)}
    ran = {mode for query in lists.values() for mode in query.hits}
    if {DENSE_MODE, LEXICAL_MODE} <= ran:
        report["sweep"] = sweep(dataset, lists, query_measures)
    return report


def tune_hybrid(
    searcher: Searcher,
    embedder: Embedder,
    dataset: BeirDataset,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The best convex weight on ``dataset``'s queries (the caller stores it with the collection)."""
    lists: dict[str, QueryLists] = {}
    for mode in (DENSE_MODE, LEXICAL_MODE):
        if progress:
            progress(f"tuning on {dataset.name}/{dataset.split}: {mode} over {len(dataset.queries)} queries")
        run_mode_lists(searcher, embedder, dataset, mode, lists)
    return tuned_settings(dataset, lists, query_measures)


def run_mode_lists(
    searcher: Searcher,
    embedder: Embedder,
    dataset: BeirDataset,
    mode: SearchMode,
    lists: dict[str, QueryLists],
) -> None:
    """The chunk lists of every query in ``mode``, without latency runs."""
    qids = list(dataset.queries)
    texts = [dataset.queries[qid] for qid in qids]
    embedded = embedder.embed_queries(texts)
    for index, qid in enumerate(qids):
        result = searcher.search_embedded(
            texts[index], embedded.rows(index, index + 1), top_k=CHUNK_DEPTH, mode=mode
        )
        lists.setdefault(qid, QueryLists()).add(mode, result.hits)

"""The evaluation behind ``rag eval`` and ``make eval``: ingest a BEIR corpus once (idempotent, through the
ingestion pipeline), optionally tune the collection's hybrid weight, and measure every search mode.

Eval collections keep float vectors so that ``float-exact`` can serve as the reference. The default name,
``eval-<data set>[-q<n>][-d<n>]-<iso|ctx>``, records the slice and the document mode, so that runs on
different slices or modes never share (or pollute) a collection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ingest.evaluation_data import BeirDataset, has_split, load_beir
from ingest.evaluation_modes import (
    CHUNK_DEPTH,
    EVAL_MODES,
    Progress,
    available_modes,
    documents_top_k,
    evaluate_modes,
    hybrid_report,
    tune_hybrid,
)
from ingest.evaluation_rescore import RESCORE_MODE, rescore_sweep
from ingest.loaders import SourceDocument
from ingest.pipeline import IngestOptions, Ingestor, IngestSummary
from rag.embedding.base import Embedder
from rag.errors import CollectionNotFoundError
from rag.search import Searcher
from rag.store import Collection, Library
from rag.types import DEFAULT_SEARCH_MODE, SearchMode

TUNE_SPLIT = "train"


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate: a BEIR folder, its split, an optional slice, and the collection to use."""

    folder: Path
    split: str = "test"
    collection: str | None = None
    limit_queries: int | None = None
    limit_docs: int | None = None
    tune: bool = False
    modes: tuple[SearchMode, ...] = EVAL_MODES
    context_suffix: bool = False  # --context given: suffix a user-given name with -ctx / -iso


def collection_name(config: EvalConfig, dataset: str, document_mode: str) -> str:
    """The collection evaluated: the given name (suffixed by mode under --context) or a default."""
    suffix = "ctx" if document_mode == "contextual" else "iso"
    if config.collection:
        return f"{config.collection}-{suffix}" if config.context_suffix else config.collection
    parts = [f"eval-{dataset}"]
    if config.limit_queries is not None:
        parts.append(f"q{config.limit_queries}")
    if config.limit_docs is not None:
        parts.append(f"d{config.limit_docs}")
    return "-".join([*parts, suffix])


def source_documents(datasets: Iterable[BeirDataset]) -> list[SourceDocument]:
    """The corpora to ingest (one entry per id), titles kept as titles and prepended to the text."""
    documents: dict[str, SourceDocument] = {}
    for dataset in datasets:
        for doc in dataset.corpus.values():
            documents.setdefault(
                doc.id, SourceDocument(id=doc.id, text=doc.text, title=doc.title or None, source=dataset.name)
            )
    return list(documents.values())


def ensure_ingested(
    library: Library,
    embedder: Embedder,
    options: IngestOptions,
    name: str,
    datasets: Iterable[BeirDataset],
) -> IngestSummary:
    """Ingest the corpora into ``name``; unchanged documents are skipped, so a second run embeds nothing.

    A new collection keeps float vectors; an existing one is used as it was created.
    """
    try:
        existing = library.open_collection(name)
        keep_floats = bool(existing.settings.get("keep_floats"))
    except CollectionNotFoundError:
        keep_floats = True
    ingestor = Ingestor(library, embedder, replace(options, keep_floats=keep_floats))
    return ingestor.ingest(source_documents(datasets), collection=name)


def evaluate_dataset(
    library: Library,
    embedder: Embedder,
    config: EvalConfig,
    options: IngestOptions,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ingest, optionally tune, and measure every mode; the result is JSON-ready (see ``rag eval --json``)."""
    dataset = load_beir(
        config.folder, split=config.split, limit_queries=config.limit_queries, limit_docs=config.limit_docs
    )
    tuning = _tuning_dataset(config, dataset)
    document_mode = embedder.fingerprint.document_mode
    name = collection_name(config, dataset.name, document_mode)
    if progress:
        progress(f"{dataset.name}: ingesting {len(dataset.corpus)} documents into {name}")
    summary = ensure_ingested(library, embedder, options, name, [dataset] + ([tuning] if tuning else []))
    collection = library.open_collection(name, embedder=embedder.fingerprint)
    searcher = Searcher(collection, embedder)
    tuned = None
    if tuning is not None:
        tuned = tune_hybrid(searcher, embedder, tuning, progress)
        collection.update_settings({"hybrid": tuned})
    modes = available_modes(bool(collection.settings.get("keep_floats")), config.modes)
    info = collection.info()
    doc_top_k = documents_top_k(info.chunks, info.documents)
    report, lists = evaluate_modes(searcher, embedder, dataset, modes, doc_top_k=doc_top_k, progress=progress)
    result = _result(collection, dataset, document_mode, report, lists, summary, tuned)
    result["doc_top_k"] = doc_top_k
    if RESCORE_MODE in modes:
        if progress:
            progress(f"{dataset.name}: {RESCORE_MODE} at each rescore multiplier")
        rescore = rescore_sweep(searcher, embedder, dataset, report, doc_top_k=doc_top_k)
        if rescore is not None:
            result["rescore"] = rescore
    return result


def _tuning_dataset(config: EvalConfig, dataset: BeirDataset) -> BeirDataset | None:
    """The train split where the folder has one (tuning on it keeps the reported split unseen), else the
    evaluated split itself (the report then says the weight was tuned on the queries it is measured on)."""
    if not config.tune:
        return None
    if config.split != TUNE_SPLIT and has_split(config.folder, TUNE_SPLIT):
        return load_beir(
            config.folder, split=TUNE_SPLIT, limit_queries=config.limit_queries, limit_docs=config.limit_docs
        )
    return dataset


def _result(
    collection: Collection,
    dataset: BeirDataset,
    document_mode: str,
    report: dict[str, dict[str, Any]],
    lists: dict[str, Any],
    summary: IngestSummary,
    tuned: dict[str, Any] | None,
) -> dict[str, Any]:
    info = collection.info()
    hybrid = hybrid_report(collection.settings, lists, dataset)
    if tuned is not None:
        hybrid["tuned_on_evaluated_queries"] = tuned["split"] == dataset.split
    return {
        "dataset": dataset.name,
        "split": dataset.split,
        "queries": len(dataset.queries),
        "documents": info.documents,
        "chunks": info.chunks,
        "collection": collection.name,
        "document_mode": document_mode,
        "chunk_depth": CHUNK_DEPTH,
        "ranking": "documents ranked by their best chunk (nDCG@10, R@10, MRR@10 over doc_top_k chunks, "
        f"R@100 over {CHUNK_DEPTH}); answer hits over the top 10 chunks",
        "ingested": {"added": summary.added, "updated": summary.updated, "skipped": summary.skipped},
        "default_mode": DEFAULT_SEARCH_MODE.value,
        "modes": {
            mode: {**values, "default": mode == DEFAULT_SEARCH_MODE} for mode, values in report.items()
        },
        "hybrid": hybrid,
    }

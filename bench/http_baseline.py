"""The in-process baseline of ``bench/http_api.py``: the sample corpus (``samples/corpus``, or a synthetic
one if missing) ingested with the model, and the search and context the server runs, timed without HTTP."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import served

from ingest.encoding import token_counter
from ingest.loaders import SourceDocument
from ingest.pipeline import IngestOptions, Ingestor
from rag.context import retrieve_context
from rag.embedding.factory import ModelOptions, load_embedder
from rag.search import Searcher
from rag.store import Library
from rag.types import Embeddings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "corpus"
QUESTIONS = [
    "how many vacation days do employees get",
    "how do I rotate an API key",
    "what is the on-call rotation",
    "which expenses are reimbursed",
    "how do I request access to production",
    "what does the glossary say about embeddings",
    "who approves a pull request",
    "where are the onboarding documents",
]
CONTEXT: dict[str, Any] = {"top_k": 10, "max_tokens": 2000, "neighbors": 1}


def documents() -> list[SourceDocument]:
    if SAMPLE.is_dir() and any(SAMPLE.iterdir()):
        from ingest.loaders import load_paths

        return load_paths([SAMPLE]).documents
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
    return [
        SourceDocument(id=f"synthetic-{i}", text=" ".join(words[(i + j) % len(words)] for j in range(300)))
        for i in range(200)
    ]


def timed_ms(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000.0


class InProcess:
    """The corpus ingested into ``data``, and the same search the server runs, timed without HTTP."""

    def __init__(self, args: argparse.Namespace, data: Path) -> None:
        self.embedder = load_embedder(ModelOptions(doc_model=args.model, query_model=args.model))
        self.library = Library(data)
        summary = Ingestor(self.library, self.embedder, IngestOptions()).ingest(
            documents(), collection="default"
        )
        self.collection = self.library.open_collection("default")
        self.searcher = Searcher(self.collection, self.embedder)
        self.queries = [f"{QUESTIONS[i % len(QUESTIONS)]} ({i})" for i in range(args.baseline_queries)]
        self.embedder.embed_queries(self.queries[:2])  # warm-up
        info = self.collection.info()
        self.described = {
            "documents": info.documents,
            "chunks": info.chunks,
            "ingest_s": round(summary.seconds, 2),
        }

    def timings(self) -> dict[str, Any]:
        embedder, searcher = self.embedder, self.searcher
        embedded = [embedder.embed_queries([q], with_floats=True) for q in self.queries]
        embed_ms = [timed_ms(lambda q=q: embedder.embed_queries([q])) for q in self.queries]  # type: ignore[misc]
        search_ms = [
            timed_ms(lambda q=q, e=e: searcher.search_embedded(q, e))  # type: ignore[misc]
            for q, e in zip(self.queries, embedded, strict=True)
        ]
        count = token_counter("cl100k_base")

        def context(query: str, embedding: Embeddings) -> Callable[[], object]:
            return lambda: retrieve_context(
                searcher, query, query_embedding=embedding, count_tokens=count, **CONTEXT
            )

        context_ms = [timed_ms(context(q, e)) for q, e in zip(self.queries, embedded, strict=True)]
        return {
            "query_embedding": served.percentiles(embed_ms),
            "search_embedded": served.percentiles(search_ms),
            "context_embedded": served.percentiles(context_ms),
        }

"""Quality guarantees on slices of the shared sets with the real offline MiniLM (``rag eval`` code path).

- ``binary+int8`` keeps at least 97% of ``int8-exact`` nDCG@10 (SciFact slice);
- ``hybrid`` with the tuned weight is never more than 0.5 point below the better of ``bm25`` and
  ``binary+int8`` (SciFact: nDCG@10, tuned on a train slice; COVID-QA: answer_hit@10, tuned on the slice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.evaluation import EvalConfig, evaluate_dataset
from ingest.pipeline import IngestOptions
from rag.embedding.factory import ModelOptions, load_embedder
from rag.store import Library
from rag.types import SearchMode

pytestmark = pytest.mark.model

# Small enough for a shared CPU: ~200 SciFact abstracts; the 4 COVID-QA papers the first 40 questions ask.
SLICES = {"scifact": (30, 150), "covidqa": (40, 0)}  # (queries, documents besides those they judge)
TARGET = {"scifact": "ndcg@10", "covidqa": "answer_hit@10"}


@pytest.fixture(scope="module")
def results(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    embedder = load_embedder(
        ModelOptions(doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2", torch_threads=1)
    )
    library = Library(tmp_path_factory.mktemp("eval-data"))
    modes = (SearchMode.BINARY_INT8, SearchMode.INT8_EXACT, SearchMode.BM25, SearchMode.HYBRID)
    try:
        return {
            name: evaluate_dataset(
                library,
                embedder,
                EvalConfig(
                    shared_data / name, limit_queries=queries, limit_docs=docs, tune=True, modes=modes
                ),
                IngestOptions(),
            )
            for name, (queries, docs) in SLICES.items()
        }
    finally:
        library.close()


def test_binary_int8_keeps_97_percent_of_int8_exact(results: dict[str, dict[str, Any]]) -> None:
    modes = results["scifact"]["modes"]
    assert modes["int8-exact"]["ndcg@10"] > 0.0
    assert modes["binary+int8"]["ndcg@10"] >= 0.97 * modes["int8-exact"]["ndcg@10"], modes


@pytest.mark.parametrize("name", sorted(SLICES))
def test_hybrid_is_not_worse_than_the_better_retriever(results: dict[str, dict[str, Any]], name: str) -> None:
    modes, metric = results[name]["modes"], TARGET[name]
    better = max(modes["bm25"][metric], modes["binary+int8"][metric])
    assert results[name]["hybrid"]["settings"]["source"] == "tuned"
    assert modes["hybrid"][metric] >= better - 0.005, (results[name]["hybrid"]["settings"], modes)

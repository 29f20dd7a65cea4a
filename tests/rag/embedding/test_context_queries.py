"""Queries through the context model (Perplexity's advice): RAG_QUERY_MODEL set to a context model
embeds each query as the one-chunk document [[q]], in every runtime, and `rag eval` compares it with
pplx-embed-v1 queries (two collections, one per query model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.evaluation import EvalConfig, evaluate_dataset
from ingest.pipeline import IngestOptions
from rag.embedding.factory import ModelOptions, load_embedder, load_embedder_from_settings
from rag.embedding.pplx import PplxEmbedder
from rag.settings import Settings
from rag.store import Library
from rag.types import SearchMode
from tests.api.conftest import LiveServer
from tests.ingest.test_evaluation import beir  # noqa: F401  (the toy BEIR data set fixture)
from tests.rag.embedding.conftest import make_pplx
from tests.rag.embedding.hosted_fixtures import API_KEY, CONTEXT, V1
from tests.rag.embedding.test_pplx import TEXTS


def test_a_context_query_model_embeds_one_chunk_documents(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    folder = str(checkpoints["context"])
    embedder = load_embedder_from_settings(Settings(data_dir=tmp_path, doc_model=folder, query_model=folder))
    assert isinstance(embedder, PplxEmbedder)  # one model loaded once, for both sides
    queries = embedder.embed_queries(TEXTS).int8
    one_chunk = np.concatenate([e.int8 for e in embedder.embed_documents([[text] for text in TEXTS])])
    assert np.array_equal(queries, one_chunk)
    fingerprint = embedder.fingerprint
    assert fingerprint.query_model == fingerprint.doc_model == checkpoints["context"].name
    paired = load_embedder(ModelOptions(doc_model=folder, query_model=str(checkpoints["v1"])))
    assert paired.fingerprint.query_model == checkpoints["v1"].name
    assert not np.array_equal(paired.embed_queries(TEXTS).int8, queries)


def test_a_hosted_context_query_model_is_the_local_one(
    hosted_api: tuple[LiveServer, dict[str, Path]],
) -> None:
    server, models = hosted_api
    spec = f"api:{CONTEXT}"
    remote = load_embedder(
        ModelOptions(doc_model=spec, query_model=spec, api_base_url=server.url, api_key=API_KEY)
    )
    local = make_pplx(models[CONTEXT]).embed_queries(TEXTS).int8
    assert np.abs(remote.embed_queries(TEXTS).int8.astype(int) - local.astype(int)).max() <= 1
    assert remote.fingerprint.query_model == CONTEXT


def test_eval_compares_the_two_query_models(
    hosted_api: tuple[LiveServer, dict[str, Path]],
    beir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    _, models = hosted_api
    library = Library(tmp_path / "data")
    results = {}
    try:
        for query in (V1, CONTEXT):
            embedder = load_embedder(
                ModelOptions(doc_model=str(models[CONTEXT]), query_model=str(models[query]))
            )
            config = EvalConfig(beir, collection=f"toy-{query}", modes=(SearchMode.INT8_EXACT,))
            results[query] = evaluate_dataset(library, embedder, config, IngestOptions())
        stored = {
            name: library.open_collection(f"toy-{name}").fingerprint.embedder.query_model for name in results
        }
    finally:
        library.close()
    assert stored == {V1: V1, CONTEXT: CONTEXT}
    for result in results.values():
        assert result["ingested"]["added"] == 8 and 0.0 <= result["modes"]["int8-exact"]["ndcg@10"] <= 1.0

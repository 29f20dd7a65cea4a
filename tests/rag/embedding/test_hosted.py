"""The hosted backend (``api:<name>``) through the official Perplexity SDK against our own API on
loopback, whose models are tiny checkpoints under the hosted names: the codes must be the local ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rag.embedding.hosted as hosted
from rag.embedding.factory import ModelOptions, load_embedder
from rag.embedding.hosted import HostedEmbedder, make_client
from rag.embedding.hosted_plan import TokenCounter, load_counter, pack
from rag.errors import ConfigError, EmbeddingError
from rag.fingerprint import CollectionFingerprint, check_compatible
from tests.api.conftest import LiveServer, free_port
from tests.conftest import REPO_ROOT
from tests.rag.embedding.conftest import make_pplx
from tests.rag.embedding.hosted_fixtures import API_KEY, CONTEXT, V1, RateLimitedOnce
from tests.rag.embedding.test_pplx import DOCUMENT, TEXTS

LONG_DOCUMENT = [f"Part {i} of a long report, which the hosted limit splits into windows." for i in range(8)]


def api_options(url: str, **overrides: object) -> ModelOptions:
    values: dict[str, object] = {
        "doc_model": f"api:{CONTEXT}",
        "query_model": f"api:{V1}",
        "api_base_url": url,
    }
    values |= {"api_key": API_KEY, **overrides}
    return ModelOptions(**values)  # type: ignore[arg-type]


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max(initial=0)) <= 1


def test_codes_through_the_api_are_the_local_codes(hosted_api: tuple[LiveServer, dict[str, Path]]) -> None:
    server, models = hosted_api
    remote = load_embedder(api_options(server.url))
    local_v1, local_context = make_pplx(models[V1]), make_pplx(models[CONTEXT])
    queries = remote.embed_queries(TEXTS)
    assert close(queries.int8, local_v1.embed_queries(TEXTS).int8)
    strong = np.abs(queries.int8.astype(int)) >= 2  # bits are the codes' signs; the local ones x's signs
    assert np.array_equal(
        np.unpackbits(queries.bits, axis=-1)[strong], (local_v1.embed_queries(TEXTS).int8 >= 0)[strong]
    )
    documents = [DOCUMENT, ["a single chunk"]]
    for got, want in zip(
        remote.embed_documents(documents), local_context.embed_documents(documents), strict=True
    ):
        assert close(got.int8, want.int8)
    assert remote.api_usage.requests >= 4 and remote.api_usage.tokens > 0  # 2 probes, then the calls


def test_requests_are_packed_within_the_limits_and_long_documents_windowed(
    hosted_api: tuple[LiveServer, dict[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, models = hosted_api
    monkeypatch.setattr(hosted, "MAX_INPUTS", 2)
    monkeypatch.setattr(hosted, "MAX_TOKENS_PER_INPUT", 40)  # a document over it goes as windows
    counter = load_counter(models[CONTEXT] / "tokenizer.json")
    client = make_client(API_KEY, server.url)
    remote = HostedEmbedder(CONTEXT, client, counter=counter, concurrency=3)
    before = remote.api_usage.requests
    got = remote.embed_documents([LONG_DOCUMENT, DOCUMENT, ["", "after an empty chunk"]])
    local = make_pplx(models[CONTEXT], max_length=40)
    assert len(local._document_sequences(LONG_DOCUMENT)) > 2  # the local backend windows it too
    want = local.embed_documents([LONG_DOCUMENT, DOCUMENT])
    assert close(got[0].int8, want[0].int8) and close(got[1].int8, want[1].int8)
    assert not got[2].int8[0].any() and got[2].int8[1].any()
    assert remote.api_usage.requests - before >= 3  # at most 2 documents or windows per request


def test_pack_keeps_order_and_every_limit() -> None:
    units = [(3, 100), (5, 50), (1, 10), (8, 30), (2, 200)]
    requests = pack(units, max_units=2, max_chunks=9, max_tokens=250)
    assert [list(r) for r in requests] == [[0, 1], [2, 3], [4]]
    assert pack([], max_units=1, max_chunks=1, max_tokens=1) == []


def test_the_estimate_is_an_upper_bound_of_the_tokenizer(
    hosted_api: tuple[LiveServer, dict[str, Path]],
) -> None:
    _, models = hosted_api
    exact, estimate = load_counter(models[V1] / "tokenizer.json"), TokenCounter()
    assert exact.exact and not estimate.exact and not load_counter(None).exact
    assert all(e >= n for e, n in zip(estimate.texts(TEXTS), exact.texts(TEXTS), strict=True))
    assert estimate.document(DOCUMENT) >= exact.document(DOCUMENT)


def test_a_429_with_retry_after_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = np.arange(-8, 8, dtype=np.int8).reshape(1, 16)
    with RateLimitedOnce(codes) as limited:
        remote = load_embedder(api_options(limited.url, doc_model=f"api:{V1}"))
        statuses = [status for status, _ in limited.hits]
        assert statuses == [429, 200] and limited.hits[1][1] - limited.hits[0][1] >= 0.9
        assert np.array_equal(remote.embed_queries(["a", "b"]).int8, np.vstack([codes, codes]))
    assert remote.api_usage.cost_usd == pytest.approx(1.0) and remote.api_usage.requests == 2


def test_a_refused_connection_or_key_is_one_clear_error(
    hosted_api: tuple[LiveServer, dict[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = hosted_api
    monkeypatch.setattr(hosted, "MAX_RETRIES", 0)
    with pytest.raises(EmbeddingError, match="cannot reach the Perplexity API"):
        load_embedder(api_options(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ConfigError, match="refused the key"):
        load_embedder(api_options(server.url, api_key="wrong-key-0123456789"))
    with pytest.raises(ConfigError, match="PERPLEXITY_API_KEY"):
        load_embedder(api_options(server.url, api_key=None))
    with pytest.raises(ConfigError, match="not a hosted model"):
        load_embedder(api_options(server.url, doc_model="api:pplx-embed-v9"))


def test_api_and_local_fingerprints_are_one_family(hosted_api: tuple[LiveServer, dict[str, Path]]) -> None:
    server, models = hosted_api
    remote = load_embedder(api_options(server.url))
    local = load_embedder(ModelOptions(doc_model=str(models[CONTEXT]), query_model=str(models[V1])))
    assert remote.fingerprint.doc_model == CONTEXT and remote.fingerprint.doc_revision == "hosted"
    assert local.fingerprint.doc_model == CONTEXT and local.fingerprint.doc_revision.startswith("sha256:")
    for stored, given in ((remote, local), (local, remote)):
        check_compatible("c", CollectionFingerprint(stored.fingerprint), embedder=given.fingerprint)
    other = load_embedder(
        ModelOptions(doc_model=f"api:{V1}", query_model=f"api:{V1}", api_base_url=server.url, api_key=API_KEY)
    )
    with pytest.raises(Exception, match="doc_model"):
        check_compatible("c", CollectionFingerprint(local.fingerprint), embedder=other.fingerprint)


def rag_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.slow  # about a minute: six `rag` processes, four of them loading torch
def test_ingest_through_the_api_then_search_locally_and_back(
    hosted_api: tuple[LiveServer, dict[str, Path]], tmp_path: Path
) -> None:
    server, models = hosted_api
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text("Green tea is steeped for two minutes in water below boiling.")
    (docs / "keys.md").write_text("Rotate the API keys every ninety days and revoke the old ones.")
    base = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    base["RAG_DATA_DIR"] = str(tmp_path / "data")
    api_env = base | {"RAG_DOC_MODEL": f"api:{CONTEXT}", "RAG_QUERY_MODEL": f"api:{V1}"}
    api_env |= {"RAG_API_BASE_URL": server.url, "PERPLEXITY_API_KEY": API_KEY}
    local_env = base | {"RAG_DOC_MODEL": str(models[CONTEXT]), "RAG_QUERY_MODEL": str(models[V1])}
    bad = rag_cli(
        api_env | {"PERPLEXITY_API_KEY": "wrong-key-0123456789"}, "ingest", str(docs), "-c", "notes"
    )
    assert (
        bad.returncode != 0 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    )
    assert not (tmp_path / "data" / "collections" / "notes").exists()
    ingested = rag_cli(api_env, "ingest", str(docs), "-c", "notes", "--json")
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert (
        summary["added"] == 2 and summary["api_usage"]["tokens"] > 0 and summary["api_usage"]["requests"] >= 1
    )
    # Random tiny weights rank arbitrarily; the proof is that each side reads the other's collection
    # and ranks it as the other does.
    assert hits(local_env, "how long is green tea steeped") == hits(api_env, "how long is green tea steeped")
    (docs / "backup.md").write_text("Back up the database every night to the second region.")
    assert rag_cli(local_env, "ingest", str(docs), "-c", "notes").returncode == 0
    assert len(hits(api_env, "nightly database backups")) == 3
    assert hits(api_env, "nightly database backups") == hits(local_env, "nightly database backups")


def hits(env: dict[str, str], query: str) -> list[str]:
    found = rag_cli(env, "search", query, "-c", "notes", "--mode", "int8-exact", "--json")
    assert found.returncode == 0, found.stderr
    return [hit["document_id"] for hit in json.loads(found.stdout)]


def test_the_service_reports_the_hosted_usage_in_metrics(
    hosted_api: tuple[LiveServer, dict[str, Path]], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api.conftest import make_settings

    server, _ = hosted_api
    remote = load_embedder(api_options(server.url))
    app = create_app(make_settings(tmp_path / "data"), embedder=remote)
    with TestClient(app) as client:
        assert client.post("/v1/collections", json={"name": "default"}).status_code == 201
        assert client.post("/v1/search", json={"query": "tea"}).status_code == 200
        text = client.get("/metrics").text
    usage = remote.api_usage
    assert usage.requests >= 3  # two probes and the query
    assert f"rag_embedding_api_requests_total {float(usage.requests)}" in text
    assert f"rag_embedding_api_tokens_total {float(usage.tokens)}" in text

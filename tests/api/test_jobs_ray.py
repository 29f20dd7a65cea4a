"""A server configured with a Ray cluster (``RAG_RAY_ADDRESS``) runs its ingestion jobs there: the
collection equals a local ingest of the same documents, and searches still embed queries locally."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ingest.loaders import SourceDocument  # noqa: E402
from ingest.pipeline import IngestOptions, Ingestor  # noqa: E402
from rag.embedding.fake import HashEmbedder  # noqa: E402
from rag.store import Library  # noqa: E402
from tests.api.conftest import start_server, stop_server  # noqa: E402
from tests.ingest import test_distributed  # noqa: E402
from tests.ingest.test_distributed import rows  # noqa: E402

cluster = test_distributed.cluster  # the local Ray cluster fixture, one per module

DOCUMENTS = [
    {"id": f"d{i}", "text": f"# Part {i}\n\n" + " ".join(f"Sentence {k} of part {i}." for k in range(40 + i))}
    for i in range(10)
]


@pytest.mark.slow
def test_jobs_run_on_the_cluster_and_store_what_a_local_ingest_stores(cluster: str, tmp_path: Path) -> None:
    (tmp_path / "ray").mkdir()
    server = start_server(tmp_path / "ray", RAG_RAY_ADDRESS=cluster, RAG_BACKGROUND_JOB_THRESHOLD="4")
    try:
        with server.client(role=None, timeout=60) as client:
            assert client.post("/v1/collections", json={"name": "c"}).status_code == 201
            accepted = client.post("/v1/collections/c/documents", json={"documents": DOCUMENTS})
            assert accepted.status_code == 202
            deadline = time.monotonic() + 180
            while (job := client.get(accepted.json()["url"]).json())["status"] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert job["status"] == "succeeded", job
            assert job["result"]["added"] == 10 and job["done"] == 10
            hits = client.post("/v1/search", json={"query": "part 7", "collection": "c", "top_k": 3})
            assert hits.status_code == 200 and hits.json()["hits"]
    finally:
        stop_server(server)
    assert "MapBatches(EmbedderActor)" in server.log.read_text()  # Ray Data ran the embedding
    library = Library(tmp_path / "local")
    try:
        documents = [SourceDocument(id=d["id"], text=d["text"]) for d in DOCUMENTS]
        Ingestor(library, HashEmbedder(64), IngestOptions()).ingest(documents, collection="c")
    finally:
        library.close()
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")

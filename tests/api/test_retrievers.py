"""The LangChain and LlamaIndex retrievers, as those frameworks call them, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore

from rag.errors import ForbiddenError, UnauthorizedError
from rag.integrations.langchain import RagRetriever as LangChainRetriever
from rag.integrations.llamaindex import RagRetriever as LlamaIndexRetriever
from tests.api.conftest import KEYS, LiveServer
from tests.api.corpus import seed

SUITE = "retrievers"
QUERY = "rotate the signing keys every ninety days"
METADATA_KEYS = {"document_id", "chunk_id", "score", "title", "source", "page", "char_start", "char_end"}


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> LiveServer:
    with live_server.client("admin") as admin:
        seed(admin, "default", SUITE)
    return live_server


def rest_hits(server: LiveServer) -> list[dict[str, Any]]:
    body = {"query": QUERY, "top_k": 2, "filter": {"suite": SUITE}}
    with server.client("reader") as reader:
        hits: list[dict[str, Any]] = reader.post("/v1/search", json=body).json()["hits"]
    return hits


def check_metadata(metadata: dict[str, Any], hit: dict[str, Any]) -> None:
    assert METADATA_KEYS <= set(metadata)
    assert {key: metadata[key] for key in METADATA_KEYS - {"score"}} == {
        key: hit[key] for key in METADATA_KEYS - {"score"}
    }
    assert metadata["score"] == pytest.approx(hit["score"])
    assert metadata["collection"] == "default"


def test_langchain_retriever_invokes_and_ainvokes(seeded: LiveServer) -> None:
    retriever = LangChainRetriever(
        base_url=seeded.url, top_k=2, api_key=KEYS["reader"], filter={"suite": SUITE}
    )
    documents = retriever.invoke(QUERY)
    hits = rest_hits(seeded)
    assert all(isinstance(document, Document) for document in documents)
    assert [d.page_content for d in documents] == [hit["text"] for hit in hits]
    assert documents[0].metadata["document_id"] == f"{SUITE}/guide/keys.md"
    assert documents[0].id == f"default/{SUITE}/guide/keys.md#{hits[0]['chunk_id']}"
    for document, hit in zip(documents, hits, strict=True):
        check_metadata(document.metadata, hit)
    assert asyncio.run(retriever.ainvoke(QUERY)) == documents


def test_langchain_retriever_raises_the_servers_errors(seeded: LiveServer) -> None:
    with pytest.raises(UnauthorizedError):
        LangChainRetriever(base_url=seeded.url).invoke(QUERY)
    scoped = LangChainRetriever(base_url=seeded.url, collection="other", api_key=KEYS["reader"])
    with pytest.raises(ForbiddenError, match="'other'"):
        scoped.invoke(QUERY)


def test_llamaindex_retriever_retrieves_and_aretrieves(seeded: LiveServer) -> None:
    retriever = LlamaIndexRetriever(
        seeded.url, top_k=2, api_key=KEYS["reader"], mode="hybrid", filter={"suite": SUITE}
    )
    nodes = retriever.retrieve(QUERY)
    with seeded.client("reader") as reader:
        body = {"query": QUERY, "top_k": 2, "filter": {"suite": SUITE}, "mode": "hybrid"}
        hits = reader.post("/v1/search", json=body).json()["hits"]
    assert all(isinstance(node, NodeWithScore) for node in nodes)
    assert [node.node.get_content() for node in nodes] == [hit["text"] for hit in hits]
    assert [node.score for node in nodes] == pytest.approx([hit["score"] for hit in hits])
    assert nodes[0].node.node_id == f"default/{hits[0]['document_id']}#{hits[0]['chunk_id']}"
    for node, hit in zip(nodes, hits, strict=True):
        check_metadata(node.node.metadata, hit)
    again = asyncio.run(retriever.aretrieve(QUERY))
    assert [(n.node.node_id, n.score) for n in again] == [(n.node.node_id, n.score) for n in nodes]

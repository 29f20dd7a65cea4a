"""A LlamaIndex retriever over ``rag serve`` (needs the ``llamaindex`` extra: llama-index-core, httpx).

::

    from rag.integrations.llamaindex import RagRetriever

    retriever = RagRetriever(base_url="http://127.0.0.1:8000", collection="handbook", top_k=5)
    nodes = retriever.retrieve("how do I rotate API keys?")   # or: await retriever.aretrieve(...)
"""

from __future__ import annotations

from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.client import AsyncRagClient, RagClient, SearchResults
from rag.integrations.hits import hit_id, hit_metadata

__all__ = ["RagRetriever"]


class RagRetriever(BaseRetriever):
    """The ``top_k`` best chunks of a collection as ``NodeWithScore``s: a ``TextNode`` of the chunk's text
    (id ``<collection>/<document_id>#<chunk_id>``) with the same metadata as the LangChain retriever."""

    def __init__(
        self,
        base_url: str,
        *,
        collection: str = "default",
        top_k: int = 10,
        api_key: str | None = None,
        mode: str | None = None,
        filter: dict[str, Any] | None = None,
        timeout: float = 30.0,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        super().__init__(callback_manager=callback_manager)
        self.base_url = base_url
        self.collection = collection
        self.top_k = top_k
        self._api_key = api_key
        self.mode = mode
        self.filter = filter
        self.timeout = timeout

    def _options(self) -> dict[str, Any]:
        return {"collection": self.collection, "top_k": self.top_k, "mode": self.mode, "filter": self.filter}

    def _nodes(self, results: SearchResults) -> list[NodeWithScore]:
        nodes = []
        for hit in results.hits:
            metadata = hit_metadata(self.collection, hit)
            node = TextNode(id_=hit_id(self.collection, hit), text=hit.text, metadata=metadata)
            nodes.append(NodeWithScore(node=node, score=hit.score))
        return nodes

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with RagClient(self.base_url, api_key=self._api_key, timeout=self.timeout) as client:
            return self._nodes(client.search(query_bundle.query_str, **self._options()))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        async with AsyncRagClient(self.base_url, api_key=self._api_key, timeout=self.timeout) as client:
            return self._nodes(await client.search(query_bundle.query_str, **self._options()))

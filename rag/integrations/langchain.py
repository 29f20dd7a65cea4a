"""A LangChain retriever over ``rag serve`` (needs the ``langchain`` extra: langchain-core and httpx).

::

    from rag.integrations.langchain import RagRetriever

    retriever = RagRetriever(base_url="http://127.0.0.1:8000", collection="handbook", top_k=5)
    documents = retriever.invoke("how do I rotate API keys?")   # or: await retriever.ainvoke(...)
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, SecretStr, field_validator

from rag.client import AsyncRagClient, RagClient, SearchResults
from rag.integrations.hits import hit_id, hit_metadata

__all__ = ["RagRetriever"]


class RagRetriever(BaseRetriever):
    """The ``top_k`` best chunks of a collection as ``Document``s: ``page_content`` is the chunk's text;
    ``metadata`` holds ``document_id``, ``chunk_id``, ``score``, ``title``, ``source``, ``page``,
    ``char_start``, ``char_end`` (and ``collection``); ``id`` is ``<collection>/<document_id>#<chunk_id>``.
    Server errors raise the project's errors (``rag.errors``)."""

    base_url: str
    collection: str = "default"
    top_k: int = Field(10, ge=1, le=1000)
    # A plain string is accepted (and kept as a SecretStr, so it never shows in a repr).
    api_key: SecretStr | str | None = None
    mode: str | None = None
    filter: dict[str, Any] | None = None
    timeout: float = 30.0

    @field_validator("api_key", mode="before")
    @classmethod
    def _secret(cls, value: object) -> object:
        return SecretStr(value) if isinstance(value, str) else value

    def _key(self) -> str | None:
        if isinstance(self.api_key, SecretStr):
            return self.api_key.get_secret_value()
        return self.api_key

    def _options(self) -> dict[str, Any]:
        return {"collection": self.collection, "top_k": self.top_k, "mode": self.mode, "filter": self.filter}

    def _documents(self, results: SearchResults) -> list[Document]:
        return [
            Document(
                id=hit_id(self.collection, hit),
                page_content=hit.text,
                metadata=hit_metadata(self.collection, hit),
            )
            for hit in results.hits
        ]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        with RagClient(self.base_url, api_key=self._key(), timeout=self.timeout) as client:
            return self._documents(client.search(query, **self._options()))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        async with AsyncRagClient(self.base_url, api_key=self._key(), timeout=self.timeout) as client:
            return self._documents(await client.search(query, **self._options()))

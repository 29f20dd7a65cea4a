"""``AsyncRagClient``: the async twin of ``RagClient`` (the same calls, parsers and errors, awaited)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx

from rag.client import calls
from rag.client.models import (
    CollectionSummary,
    ContextResult,
    Document,
    DocumentSummary,
    IngestReport,
    NewDocument,
    SearchResults,
)
from rag.client.sync import DEFAULT_TIMEOUT, DEFAULT_URL, JOB_POLL_SECONDS, JOB_TIMEOUT, bearer_headers
from rag.errors import BusyError
from rag.types import MetadataFilter, SearchMode

T = TypeVar("T")


class AsyncRagClient:
    """``RagClient`` for asyncio code::

    async with AsyncRagClient("http://127.0.0.1:8000", api_key="...") as client:
        hits = (await client.search("refund policy")).hits
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=bearer_headers(api_key), timeout=timeout, transport=transport
        )
        self.collections = AsyncCollections(self)
        self.documents = AsyncDocuments(self)

    async def send(self, call: calls.Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, json=call.json, params=call.params or None
            )
        except httpx.TransportError as exc:
            raise calls.unreachable(self.base_url, exc) from exc
        calls.raise_for_error(response)
        return call.parse(response)

    async def search(
        self,
        query: str,
        *,
        collection: str = "default",
        top_k: int | None = None,
        mode: SearchMode | str | None = None,
        filter: MetadataFilter | None = None,
        rescore_multiplier: int | None = None,
    ) -> SearchResults:
        options = {"top_k": top_k, "mode": mode, "filter": filter, "rescore_multiplier": rescore_multiplier}
        return await self.send(calls.search(query, collection=collection, **options))

    async def context(
        self,
        query: str,
        *,
        collection: str = "default",
        max_tokens: int | None = None,
        encoding: str | None = None,
        neighbors: int | None = None,
        top_k: int | None = None,
        mode: SearchMode | str | None = None,
        filter: MetadataFilter | None = None,
    ) -> ContextResult:
        options: dict[str, Any] = {"max_tokens": max_tokens, "encoding": encoding, "neighbors": neighbors}
        options |= {"top_k": top_k, "mode": mode, "filter": filter}
        return await self.send(calls.context(query, collection=collection, **options))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRagClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncCollections:
    def __init__(self, client: AsyncRagClient) -> None:
        self._client = client

    async def list(self) -> list[CollectionSummary]:
        return await self._client.send(calls.list_collections())

    async def get(self, name: str) -> CollectionSummary:
        return await self._client.send(calls.get_collection(name))

    async def create(
        self,
        name: str,
        *,
        keep_floats: bool | None = None,
        chunk_target_tokens: int | None = None,
        chunk_max_tokens: int | None = None,
    ) -> CollectionSummary:
        options = {"keep_floats": keep_floats, "chunk_target_tokens": chunk_target_tokens}
        return await self._client.send(
            calls.create_collection(name, chunk_max_tokens=chunk_max_tokens, **options)
        )

    async def delete(self, name: str) -> None:
        await self._client.send(calls.delete_collection(name))


class AsyncDocuments:
    def __init__(self, client: AsyncRagClient) -> None:
        self._client = client

    async def list(
        self, *, collection: str = "default", limit: int = 100, offset: int = 0
    ) -> list[DocumentSummary]:
        return await self._client.send(calls.list_documents(collection, limit=limit, offset=offset))

    async def get(self, document_id: str, *, collection: str = "default") -> Document:
        return await self._client.send(calls.get_document(collection, document_id))

    async def add(
        self,
        documents: Sequence[NewDocument | Mapping[str, Any]],
        *,
        collection: str = "default",
        job_timeout: float = JOB_TIMEOUT,
    ) -> IngestReport:
        body = await self._client.send(calls.add_documents(collection, documents))
        if not calls.is_job(body):
            return IngestReport.model_validate(body)
        deadline = time.monotonic() + job_timeout
        while time.monotonic() < deadline:
            report = calls.job_report(await self._client.send(calls.get_job(body["url"])))
            if report is not None:
                return report
            await asyncio.sleep(JOB_POLL_SECONDS)
        raise BusyError(f"the ingestion job {body['job_id']} did not finish within {job_timeout:g} s.")

    async def delete(self, document_id: str, *, collection: str = "default") -> None:
        await self._client.send(calls.delete_document(collection, document_id))

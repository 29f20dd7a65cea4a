"""``RagClient``: the REST API from Python, blocking (``AsyncRagClient`` in ``aio.py`` is its twin)."""

from __future__ import annotations

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
from rag.errors import BusyError
from rag.types import MetadataFilter, SearchMode

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
JOB_POLL_SECONDS = 0.1
JOB_TIMEOUT = 3600.0


def bearer_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class RagClient:
    """A client of one ``rag serve``; errors are the project's own (``rag.errors``), with the server's
    sentence, chosen by the answer's ``error_type``; an unreachable server is a ``NotReadyError``.

    Usage::

        with RagClient("http://127.0.0.1:8000", api_key="...") as client:
            for hit in client.search("refund policy", top_k=5).hits:
                print(hit.score, hit.document_id, hit.text)
            client.documents.add([{"id": "a", "text": "..."}], collection="handbook")

    ``transport`` is passed to ``httpx.Client`` (e.g. ``httpx.MockTransport`` in a test).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=bearer_headers(api_key), timeout=timeout, transport=transport
        )
        self.collections = Collections(self)
        self.documents = Documents(self)

    def send(self, call: calls.Call[T]) -> T:
        """Send one call; raise the mapped error for an error answer."""
        try:
            response = self._http.request(call.method, call.path, json=call.json, params=call.params or None)
        except httpx.TransportError as exc:
            raise calls.unreachable(self.base_url, exc) from exc
        calls.raise_for_error(response)
        return call.parse(response)

    def search(
        self,
        query: str,
        *,
        collection: str = "default",
        top_k: int | None = None,
        mode: SearchMode | str | None = None,
        filter: MetadataFilter | None = None,
        rescore_multiplier: int | None = None,
    ) -> SearchResults:
        """The best chunks for ``query``; options left ``None`` take the server's defaults."""
        options = {"top_k": top_k, "mode": mode, "filter": filter, "rescore_multiplier": rescore_multiplier}
        return self.send(calls.search(query, collection=collection, **options))

    def context(
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
        """A prompt-ready context of at most ``max_tokens`` (server default 2000) with its citations."""
        options: dict[str, Any] = {"max_tokens": max_tokens, "encoding": encoding, "neighbors": neighbors}
        options |= {"top_k": top_k, "mode": mode, "filter": filter}
        return self.send(calls.context(query, collection=collection, **options))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RagClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Collections:
    """``client.collections``: list, get, create and delete collections."""

    def __init__(self, client: RagClient) -> None:
        self._client = client

    def list(self) -> list[CollectionSummary]:
        """The collections the key may touch."""
        return self._client.send(calls.list_collections())

    def get(self, name: str) -> CollectionSummary:
        return self._client.send(calls.get_collection(name))

    def create(
        self,
        name: str,
        *,
        keep_floats: bool | None = None,
        chunk_target_tokens: int | None = None,
        chunk_max_tokens: int | None = None,
    ) -> CollectionSummary:
        options = {"keep_floats": keep_floats, "chunk_target_tokens": chunk_target_tokens}
        return self._client.send(calls.create_collection(name, chunk_max_tokens=chunk_max_tokens, **options))

    def delete(self, name: str) -> None:
        self._client.send(calls.delete_collection(name))


class Documents:
    """``client.documents``: list, get, add and delete the documents of a collection."""

    def __init__(self, client: RagClient) -> None:
        self._client = client

    def list(
        self, *, collection: str = "default", limit: int = 100, offset: int = 0
    ) -> list[DocumentSummary]:
        return self._client.send(calls.list_documents(collection, limit=limit, offset=offset))

    def get(self, document_id: str, *, collection: str = "default") -> Document:
        return self._client.send(calls.get_document(collection, document_id))

    def add(
        self,
        documents: Sequence[NewDocument | Mapping[str, Any]],
        *,
        collection: str = "default",
        job_timeout: float = JOB_TIMEOUT,
    ) -> IngestReport:
        """Add or replace documents; a request the server runs as a background job is waited for."""
        body = self._client.send(calls.add_documents(collection, documents))
        if not calls.is_job(body):
            return IngestReport.model_validate(body)
        deadline = time.monotonic() + job_timeout
        while time.monotonic() < deadline:
            report = calls.job_report(self._client.send(calls.get_job(body["url"])))
            if report is not None:
                return report
            time.sleep(JOB_POLL_SECONDS)
        raise BusyError(f"the ingestion job {body['job_id']} did not finish within {job_timeout:g} s.")

    def delete(self, document_id: str, *, collection: str = "default") -> None:
        self._client.send(calls.delete_document(collection, document_id))

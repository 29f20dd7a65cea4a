"""``rag.client``: RagClient and AsyncRagClient against a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio

import pytest

from api.errors import STATUS_BY_ERROR_TYPE
from rag.client import AsyncRagClient, RagClient
from rag.client.calls import error_for
from rag.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    RagError,
    UnauthorizedError,
)
from tests.api.conftest import KEYS, LiveServer, free_port
from tests.api.corpus import seed

SUITE = "client"


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> LiveServer:
    with live_server.client("admin") as admin:
        seed(admin, "default", SUITE)
    return live_server


def test_sync_client_manages_collections_and_documents(live_server: LiveServer) -> None:
    with RagClient(live_server.url, api_key=KEYS["admin"]) as client:
        created = client.collections.create("client-sync", chunk_target_tokens=64, chunk_max_tokens=96)
        assert (created.name, created.documents) == ("client-sync", 0)
        assert created.fingerprint["chunker"]["target_tokens"] == 64
        report = client.documents.add(
            [{"id": "a/one.md", "text": "Backups run nightly at two.", "metadata": {"n": 1}}],
            collection="client-sync",
        )
        assert (report.added, report.outcomes[0].id, report.outcomes[0].status) == (1, "a/one.md", "added")
        assert [d.id for d in client.documents.list(collection="client-sync")] == ["a/one.md"]
        document = client.documents.get("a/one.md", collection="client-sync")
        assert document.metadata == {"n": 1} and document.chunks[0].text == "Backups run nightly at two."
        hits = client.search("backups nightly", collection="client-sync").hits
        assert [hit.document_id for hit in hits] == ["a/one.md"]
        assert "client-sync" in {c.name for c in client.collections.list()}
        assert client.collections.get("client-sync").documents == 1
        client.documents.delete("a/one.md", collection="client-sync")
        client.collections.delete("client-sync")
        with pytest.raises(NotFoundError, match="client-sync"):
            client.collections.get("client-sync")


def test_sync_client_waits_for_a_background_job(live_server: LiveServer) -> None:
    documents = [{"id": f"client-job-{i}", "text": f"note {i} on the audit"} for i in range(6)]  # over 4
    with RagClient(live_server.url, api_key=KEYS["writer"]) as client:
        report = client.documents.add(documents)
    assert report.added + report.skipped == 6 and {o.status for o in report.outcomes} <= {"added", "skipped"}


def test_sync_search_hits_carry_the_rest_fields(seeded: LiveServer) -> None:
    with RagClient(seeded.url, api_key=KEYS["reader"]) as client:
        found = client.search("rotate the signing keys", top_k=1, filter={"suite": SUITE}, mode="hybrid")
    assert found.mode == "hybrid" and found.model == "fake:64"
    hit = found.hits[0]
    keys = f"{SUITE}/guide/keys.md"
    assert (hit.document_id, hit.title, hit.source) == (keys, "Key rotation", keys)
    assert hit.text.startswith("Rotate the signing keys") and hit.metadata["suite"] == SUITE
    assert set(found.timings) >= {"embed", "total"}


def test_errors_are_the_projects_own_with_the_servers_sentence(seeded: LiveServer) -> None:
    with RagClient(seeded.url, api_key=KEYS["reader"]) as reader:
        with pytest.raises(ForbiddenError, match="may not use the collection 'other'"):
            reader.search("x", collection="other")
        with pytest.raises(ForbiddenError, match="the request needs 'admin'"):
            reader.collections.create("never")
        with pytest.raises(InvalidInputError, match="top_k"):
            reader.search("x", top_k=0)
        with pytest.raises(NotFoundError, match="no-such-doc"):
            reader.documents.get("no-such-doc")
    with RagClient(seeded.url) as anonymous, pytest.raises(UnauthorizedError, match="API key is required"):
        anonymous.collections.list()
    with RagClient(seeded.url, api_key=KEYS["admin"]) as admin, pytest.raises(ConflictError, match="default"):
        admin.collections.create("default")
    with RagClient(f"http://127.0.0.1:{free_port()}") as nowhere, pytest.raises(NotReadyError, match="reach"):
        nowhere.search("x")


def test_async_client_is_the_same_api_awaited(seeded: LiveServer) -> None:
    async def session() -> None:
        async with AsyncRagClient(seeded.url, api_key=KEYS["admin"]) as client:
            await client.collections.create("client-async")
            audit = {"id": "b", "text": "Audits close in March."}
            report = await client.documents.add([audit], collection="client-async")
            assert report.added == 1
            assert [d.id for d in await client.documents.list(collection="client-async")] == ["b"]
            assert (await client.documents.get("b", collection="client-async")).chunk_count == 1
            hits = (await client.search("audits march", collection="client-async")).hits
            assert [hit.document_id for hit in hits] == ["b"]
            assert "client-async" in {c.name for c in await client.collections.list()}
            await client.collections.delete("client-async")
            with pytest.raises(NotFoundError):
                await client.collections.get("client-async")
        async with AsyncRagClient(seeded.url, api_key=KEYS["reader"]) as reader:
            with pytest.raises(ForbiddenError, match="'other'"):
                await reader.search("x", collection="other")

    asyncio.run(session())


def test_client_context_answers_a_budgeted_context_with_citations(seeded: LiveServer) -> None:
    """Against the ``POST /v1/context`` contract (merged from its own branch)."""
    with RagClient(seeded.url, api_key=KEYS["reader"]) as client:
        result = client.context(
            "rotate the signing keys", max_tokens=200, neighbors=0, top_k=2, filter={"suite": SUITE}
        )
    assert 0 < result.tokens <= 200 and result.model == "fake:64"
    assert [c.index for c in result.citations] == list(range(1, len(result.citations) + 1))
    first = result.citations[0]
    assert first.document_id == f"{SUITE}/guide/keys.md" and first.title == "Key rotation"
    assert first.chunk_ids and first.char_end > first.char_start
    assert "Rotate the signing keys every ninety days" in result.context


# Server error types with no error class of their own: the nearest one (or the base) stands in.
APPROXIMATED = {"payload_too_large": "validation_error", "method_not_allowed": "internal_error"}


@pytest.mark.parametrize("error_type", sorted(STATUS_BY_ERROR_TYPE))
def test_every_error_type_the_server_answers_maps_to_its_error_class(error_type: str) -> None:
    error = error_for(error_type, "the sentence.")
    assert isinstance(error, RagError) and error.message == "the sentence."
    assert error.error_type == APPROXIMATED.get(error_type, error_type)

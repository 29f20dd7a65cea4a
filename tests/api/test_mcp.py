"""MCP over streamable HTTP (``/mcp`` of a real uvicorn server) and over stdio (``rag mcp`` as a
subprocess), driven by the ``mcp`` SDK's own client; keys, collection scopes and the host allowlist."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from api.mcp.http import allowed_hosts
from tests.api.conftest import KEYS, LiveServer, bearer, make_settings
from tests.api.corpus import seed
from tests.conftest import REPO_ROOT
from tests.ingest.cli import rag

T = TypeVar("T")
SUITE = "mcp"
TOOLS = {"search", "fetch", "list_collections"}


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> LiveServer:
    with live_server.client("admin") as admin:
        seed(admin, "default", SUITE)
        seed(admin, "other", SUITE)
    return live_server


@asynccontextmanager
async def connect(url: str, role: str | None = "reader") -> AsyncIterator[Client]:
    headers = bearer(role) if role else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30.0) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            yield client


def run(url: str, role: str | None, session: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with connect(url, role) as client:
            return await session(client)

    return asyncio.run(main())


def call(url: str, role: str | None, tool: str, arguments: dict[str, Any]) -> Any:
    return run(url, role, lambda client: client.call_tool(tool, arguments))


def test_tools_are_listed_read_only_with_output_schemas(seeded: LiveServer) -> None:
    listed = run(seeded.url, "reader", lambda client: client.list_tools())
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.output_schema is not None
    search_arguments = set(tools["search"].input_schema["properties"])
    assert search_arguments == {"query", "collection", "top_k", "mode", "filter"}
    assert tools["search"].input_schema["required"] == ["query"]


def test_search_answers_numbered_text_and_the_same_hits_as_rest(seeded: LiveServer) -> None:
    query = "rotate the signing keys every ninety days"
    result = call(seeded.url, "reader", "search", {"query": query, "top_k": 2, "filter": {"suite": SUITE}})
    assert not result.is_error
    results = result.structured_content["results"]
    with seeded.client("reader") as reader:
        rest = reader.post("/v1/search", json={"query": query, "top_k": 2, "filter": {"suite": SUITE}}).json()
    assert [(r["document_id"], r["chunk_id"]) for r in results] == [
        (h["document_id"], h["chunk_id"]) for h in rest["hits"]
    ]
    assert [r["score"] for r in results] == pytest.approx([h["score"] for h in rest["hits"]])
    top = results[0]
    assert top["document_id"] == f"{SUITE}/guide/keys.md" and top["index"] == 1
    assert top["id"] == f"default/{SUITE}/guide/keys.md#{top['chunk_id']}"
    assert top["citation"] == f"{SUITE}/guide/keys.md, chars 0-{top['char_end']}"
    text = result.content[0].text
    assert "[1] Key rotation" in text and "[2] Refunds" in text
    assert f"id: {top['id']}" in text and top["text"] in text


def _cache_misses(server: LiveServer) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=30).text.splitlines():
        if line.startswith('rag_query_cache_total{result="miss"}'):
            return float(line.split()[-1])
    return 0.0


def test_search_goes_through_the_services_query_batcher(seeded: LiveServer) -> None:
    before = _cache_misses(seeded)
    call(seeded.url, "reader", "search", {"query": f"a query never asked before {before}"})
    assert _cache_misses(seeded) == before + 1  # the REST batcher's cache saw it: one model, one path


def test_fetch_reads_a_document_by_result_id_or_document_id(seeded: LiveServer) -> None:
    refunds = {"suite": SUITE, "topic": "refunds"}
    found = call(seeded.url, "reader", "search", {"query": "refunds card", "filter": refunds})
    hit = found.structured_content["results"][0]
    assert hit["document_id"] == f"{SUITE}/refunds#2024"  # a document id holding "/" and "#"
    by_result = call(seeded.url, "reader", "fetch", {"id": hit["id"]})
    assert not by_result.is_error, by_result.content
    document = by_result.structured_content
    assert document["document_id"] == hit["document_id"] and document["collection"] == "default"
    assert document["text"] == "Refunds are paid to the original card within thirty days of the purchase."
    assert document["chunk"]["chunk_id"] == hit["chunk_id"]
    assert document["metadata"] == {"suite": SUITE, "topic": "refunds"} and document["source"] == "policy.pdf"
    assert document["text"] in by_result.content[0].text
    # With a collection, the id is a document id, even one that reads like a result id.
    by_document = call(seeded.url, "reader", "fetch", {"id": hit["document_id"], "collection": "default"})
    assert by_document.structured_content["text"] == document["text"]
    assert by_document.structured_content["chunk"] is None
    misread = call(seeded.url, "reader", "fetch", {"id": hit["id"], "collection": "default"})
    assert misread.is_error and "leave collection out" in misread.content[0].text
    missing = call(seeded.url, "reader", "fetch", {"id": "no-such-document"})
    assert missing.is_error and "not_found: No document 'no-such-document'" in missing.content[0].text


def test_list_collections_shows_only_the_keys_collections(seeded: LiveServer) -> None:
    def names(role: str) -> set[str]:
        result = call(seeded.url, role, "list_collections", {})
        return {c["name"] for c in result.structured_content["collections"]}

    assert names("reader") == {"default"}
    assert names("other") == {"other"}
    assert {"default", "other"} <= names("admin")


def test_a_key_scoped_to_one_collection_cannot_read_another(seeded: LiveServer) -> None:
    found = call(seeded.url, "other", "search", {"query": "refunds", "collection": "other"})
    assert not found.is_error and found.structured_content["results"]  # the key reads its own collection
    other_id = found.structured_content["results"][0]["id"]
    assert other_id.startswith("other/")

    searched = call(seeded.url, "reader", "search", {"query": "refunds", "collection": "other"})
    fetched = call(seeded.url, "reader", "fetch", {"id": other_id})
    by_name = {"id": f"{SUITE}/refunds#2024", "collection": "other"}
    fetched_by_name = call(seeded.url, "reader", "fetch", by_name)
    for refused in (searched, fetched, fetched_by_name):
        assert refused.is_error
        assert "forbidden: this API key may not use the collection 'other'" in refused.content[0].text


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("authorization", "status"), [(None, 401), ("Bearer not-a-key", 401), (f"Bearer {KEYS['reader']}", 200)]
)
def test_mcp_needs_a_known_key(seeded: LiveServer, authorization: str | None, status: int) -> None:
    headers = MCP_HEADERS | ({"Authorization": authorization} if authorization else {})
    response = httpx.post(f"{seeded.url}/mcp", json=INITIALIZE, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["error_type"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_host_outside_the_allowlist_is_refused(seeded: LiveServer) -> None:
    headers = MCP_HEADERS | bearer("reader") | {"Host": "rebound.example:8000"}
    response = httpx.post(f"{seeded.url}/mcp", json=INITIALIZE, headers=headers, timeout=30)
    assert response.status_code == 421


def test_allowed_hosts_come_from_loopback_and_the_bind_host(tmp_path: Path) -> None:
    loopback = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"]
    assert allowed_hosts(make_settings(tmp_path)) == loopback
    assert allowed_hosts(make_settings(tmp_path, host="10.0.0.5")) == [*loopback, "10.0.0.5", "10.0.0.5:*"]
    assert allowed_hosts(make_settings(tmp_path, host="0.0.0.0")) == loopback
    configured = make_settings(tmp_path, mcp_allowed_hosts=["rag.internal", "proxy:8443"])
    assert allowed_hosts(configured) == ["rag.internal", "rag.internal:*", "proxy:8443", "proxy:8443:*"]
    assert allowed_hosts(make_settings(tmp_path, mcp_allowed_hosts=["*"])) is None


# stdio: `rag mcp` as a subprocess


@pytest.fixture(scope="module")
def stdio_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stdio")
    (root / "docs").mkdir()
    (root / "docs" / "keys.md").write_text("# Keys\n\nRotate the signing keys every ninety days.\n")
    (root / "docs" / "refunds.md").write_text("# Refunds\n\nRefunds are paid within thirty days.\n")
    result = rag(root / "data", "fake:64", "ingest", str(root / "docs"), "--collection", "default")
    assert result.exit_code == 0, result.output
    return root / "data"


def stdio_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    return env | {"RAG_DATA_DIR": str(data_dir), "RAG_DOC_MODEL": "fake:64", "RAG_QUERY_MODEL": "fake:64"}


RAG_MCP = [sys.executable, "-m", "ingest", "mcp"]


def test_rag_mcp_over_stdio_searches_fetches_and_lists(stdio_data: Path) -> None:
    params = StdioServerParameters(
        command=RAG_MCP[0], args=RAG_MCP[1:], env=stdio_env(stdio_data), cwd=str(REPO_ROOT)
    )

    async def session() -> tuple[Any, Any, Any, Any]:
        async with Client(params) as client:
            tools = await client.list_tools()
            found = await client.call_tool("search", {"query": "rotate the signing keys", "top_k": 1})
            fetched = await client.call_tool("fetch", {"id": found.structured_content["results"][0]["id"]})
            listed = await client.call_tool("list_collections", {})
            return tools, found, fetched, listed

    tools, found, fetched, listed = asyncio.run(session())
    assert {tool.name for tool in tools.tools} == TOOLS
    top = found.structured_content["results"][0]
    assert top["document_id"] == "keys.md" and top["id"] == f"default/keys.md#{top['chunk_id']}"
    assert "[1] Keys" in found.content[0].text
    assert fetched.structured_content["text"] == "# Keys\n\nRotate the signing keys every ninety days."
    assert listed.structured_content["collections"] == [
        {"name": "default", "documents": 2, "chunks": 2, "error": None}
    ]


@pytest.mark.slow
@pytest.mark.model
def test_rag_mcp_over_stdio_with_the_offline_minilm(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "refunds.md").write_text("# Refunds\n\nRefunds are paid within thirty days.\n")
    (tmp_path / "docs" / "keys.md").write_text("# Keys\n\nRotate API keys every ninety days.\n")
    model = "all-minilm-l6-v2"
    assert rag(tmp_path / "data", model, "ingest", str(tmp_path / "docs")).exit_code == 0
    env = stdio_env(tmp_path / "data") | {"RAG_DOC_MODEL": model, "RAG_QUERY_MODEL": model}
    params = StdioServerParameters(command=RAG_MCP[0], args=RAG_MCP[1:], env=env, cwd=str(REPO_ROOT))

    async def session() -> Any:
        async with Client(params) as client:
            question = "how long until I get my money back?"
            return await client.call_tool("search", {"query": question, "top_k": 1})

    found = asyncio.run(session())
    assert found.structured_content["results"][0]["document_id"] == "refunds.md"


def test_rag_mcp_writes_nothing_but_protocol_on_stdout(stdio_data: Path) -> None:
    request = json.dumps(INITIALIZE) + "\n"
    done = subprocess.run(
        RAG_MCP, input=request.encode(), capture_output=True, cwd=REPO_ROOT, env=stdio_env(stdio_data),
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines and all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "pplx-rag"
    assert b"[rag mcp]" in done.stderr  # the server's own log went to stderr

"""The MCP server (the ``mcp`` SDK's ``MCPServer``): three read-only tools over one ``AppState``.

``build_server(state)`` serves the state it is given, so ``rag serve`` mounts it beside the REST routes
on the same model, batcher and library (``api.mcp.http``), and ``rag mcp`` runs it over stdio on a state
of its own (``api.mcp.stdio``). Who calls is read from the HTTP request the auth middleware checked;
over stdio there is no request, and the caller is the local user, who may read every collection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from api.auth import ANONYMOUS_ADMIN, Principal
from api.mcp import text, tools
from api.mcp.models import CollectionsOutput, FetchOutput, SearchOutput
from api.state import AppState
from rag.errors import RagError, UnauthorizedError
from rag.types import SearchMode

PRINCIPAL_KEY = "rag.principal"  # where the HTTP auth middleware leaves the caller in the ASGI scope
READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

INSTRUCTIONS = """\
Search the user's document collections. Call search with a question; cite results as [n] and keep
their ids. Call fetch with a result id (<collection>/<document_id>#<chunk_id>) or a document id to read
the whole document. list_collections shows what can be searched."""

SEARCH_DESCRIPTION = """\
Search a collection for the chunks that best answer a query. Returns numbered results with their result
ids (<collection>/<document_id>#<chunk_id>), titles, sources, citations and text. Modes: binary+int8
(default, semantic), hybrid (semantic and keywords), bm25 (keywords only), binary, int8-exact,
float-exact. filter matches document metadata: {"key": value}, {"key": {"$in": [...]}},
{"key": {"$gte": 1}}."""

FETCH_DESCRIPTION = """\
Read one whole document with its metadata. Pass id = a result id from search
(<collection>/<document_id>#<chunk_id>; the named chunk's span is reported) and no collection; or pass
collection and id = a document id of that collection."""


def principal_of(ctx: Context[Any, Any]) -> Principal:
    """The caller: the key the HTTP request was authenticated with, or the local user over stdio."""
    request = ctx.request_context.request
    if request is None:
        return ANONYMOUS_ADMIN
    principal = getattr(request, "scope", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):  # fail closed: an HTTP request that skipped the middleware
        raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'.")
    return principal


@contextmanager
def _root_logging_kept() -> Iterator[None]:
    """Undo the ``logging.basicConfig`` that ``MCPServer()`` runs: the service owns its logging (and a
    second root handler would print the service's warnings twice)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _result(output: BaseModel, content: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=content)], structured_content=output.model_dump(mode="json")
    )


def _tool_error(exc: RagError) -> ToolError:
    """A failure the model can read and act on (``is_error``), with the same sentence REST answers."""
    return ToolError(f"{exc.error_type}: {exc.message}")


def build_server(
    state: AppState,
    *,
    lifespan: Callable[[MCPServer[Any]], AbstractAsyncContextManager[Any]] | None = None,
    version: str = "",
) -> MCPServer[Any]:
    with _root_logging_kept():
        server: MCPServer[Any] = MCPServer(
            "pplx-rag", instructions=INSTRUCTIONS, version=version, lifespan=lifespan, log_level="WARNING"
        )

    async def search(
        query: Annotated[str, Field(description="The question or keywords.")],
        ctx: Context[Any, Any],
        collection: Annotated[str | None, Field(description="Collection name (default: default).")] = None,
        top_k: Annotated[int | None, Field(description="How many results (default: RAG_TOP_K).")] = None,
        mode: Annotated[SearchMode | None, Field(description="How to search (default binary+int8).")] = None,
        filter: Annotated[dict[str, Any] | None, Field(description="Metadata filter, ANDed.")] = None,
    ) -> Annotated[CallToolResult, SearchOutput]:
        try:
            output = await tools.search(
                state,
                principal_of(ctx),
                query=query,
                collection=collection,
                top_k=top_k,
                mode=mode,
                filter=filter,
            )
        except RagError as exc:
            raise _tool_error(exc) from None
        return _result(output, text.search_text(output))

    async def fetch(
        id: Annotated[str, Field(description="A result id from search, or a document id.")],
        ctx: Context[Any, Any],
        collection: Annotated[
            str | None, Field(description="Only with a document id: its collection (none for a result id).")
        ] = None,
    ) -> Annotated[CallToolResult, FetchOutput]:
        try:
            output = await tools.fetch(state, principal_of(ctx), id, collection)
        except RagError as exc:
            raise _tool_error(exc) from None
        return _result(output, text.fetch_text(output))

    async def list_collections(ctx: Context[Any, Any]) -> Annotated[CallToolResult, CollectionsOutput]:
        try:
            output = await tools.collections(state, principal_of(ctx))
        except RagError as exc:
            raise _tool_error(exc) from None
        return _result(output, text.collections_text(output))

    server.add_tool(search, title="Search documents", description=SEARCH_DESCRIPTION, annotations=READ_ONLY)
    server.add_tool(fetch, title="Fetch a document", description=FETCH_DESCRIPTION, annotations=READ_ONLY)
    server.add_tool(
        list_collections,
        title="List collections",
        description="The collections this caller may search, with their document and chunk counts.",
        annotations=READ_ONLY,
    )
    return server

"""The text content of the MCP tools: what an LLM reads (the structured content carries the same)."""

from __future__ import annotations

from api.mcp.models import CollectionsOutput, FetchOutput, SearchOutput


def search_text(output: SearchOutput) -> str:
    if not output.results:
        return f"No results for {output.query!r} in the collection {output.collection!r}."
    blocks = [f"{len(output.results)} results for {output.query!r} in {output.collection!r} (cite as [n]):"]
    for item in output.results:
        heading = f"[{item.index}] {item.title or item.document_id} (score {item.score:.3f})"
        blocks.append(f"{heading}\nid: {item.id}\ncitation: {item.citation}\n{item.text}")
    return "\n\n".join(blocks)


def fetch_text(output: FetchOutput) -> str:
    lines = [
        f"# {output.title or output.document_id}",
        f"id: {output.collection}/{output.document_id}",
        f"source: {output.source or '-'}",
        f"metadata: {output.metadata}",
    ]
    if output.chunk is not None:
        span = output.chunk
        page = f", page {span.page}" if span.page is not None else ""
        lines.append(f"cited chunk {span.chunk_id}: chars {span.char_start}-{span.char_end}{page}")
    return "\n".join(lines) + "\n\n" + output.text


def collections_text(output: CollectionsOutput) -> str:
    if not output.collections:
        return "No collections are visible to this key."
    lines = ["Collections (name: documents, chunks):"]
    for item in output.collections:
        problem = f" [unreadable: {item.error}]" if item.error else ""
        lines.append(f"- {item.name}: {item.documents} documents, {item.chunks} chunks{problem}")
    return "\n".join(lines)

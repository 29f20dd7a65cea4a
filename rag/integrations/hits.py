"""What both retrievers attach to a hit: the same metadata keys and the same id as the MCP tools."""

from __future__ import annotations

from typing import Any

from rag.client.models import SearchHit


def hit_id(collection: str, hit: SearchHit) -> str:
    """``<collection>/<document_id>#<chunk_id>``, the result id that MCP ``search`` answers too."""
    return f"{collection}/{hit.document_id}#{hit.chunk_id}"


def hit_metadata(collection: str, hit: SearchHit) -> dict[str, Any]:
    return {
        "collection": collection,
        "document_id": hit.document_id,
        "chunk_id": hit.chunk_id,
        "score": hit.score,
        "title": hit.title,
        "source": hit.source,
        "page": hit.page,
        "char_start": hit.char_start,
        "char_end": hit.char_end,
    }

"""Documents the MCP, client and retriever tests add to the shared live server, each set tagged with its
own ``suite`` so a filter keeps other modules' documents out of its searches."""

from __future__ import annotations

from typing import Any

import httpx


def suite_documents(suite: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{suite}/guide/keys.md",
            "title": "Key rotation",
            "source": f"{suite}/guide/keys.md",
            "text": "Rotate the signing keys every ninety days; an old key stops working a day later.",
            "metadata": {"suite": suite, "topic": "keys"},
        },
        {
            "id": f"{suite}/refunds#2024",
            "title": "Refunds",
            "source": "policy.pdf",
            "text": "Refunds are paid to the original card within thirty days of the purchase.",
            "metadata": {"suite": suite, "topic": "refunds"},
        },
    ]


def seed(client: httpx.Client, collection: str, suite: str) -> list[dict[str, Any]]:
    """Add (or keep) the suite's documents in ``collection``; returns them."""
    documents = suite_documents(suite)
    added = client.post(f"/v1/collections/{collection}/documents", json={"documents": documents})
    assert added.status_code in (200, 201), added.text
    return documents

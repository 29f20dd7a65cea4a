"""``rag`` stays light: only ``rag.client`` and ``rag.integrations.*`` import httpx and the frameworks."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("httpx", "langchain_core", "llama_index", "mcp", "api", "ingest")


def imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split()) & set(HEAVY)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("import rag, rag.search, rag.store, rag.types", set()),
        ("import rag.integrations", set()),
        ("import rag.client", {"httpx"}),
        ("import rag.integrations.langchain", {"httpx", "langchain_core"}),
        ("import rag.integrations.llamaindex", {"httpx", "llama_index"}),
    ],
)
def test_only_the_client_and_integrations_import_httpx_and_frameworks(
    statement: str, expected: set[str]
) -> None:
    assert imported_after(statement) == expected

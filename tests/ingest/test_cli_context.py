"""``rag context``: the packed context of a query, readable and as the API's JSON, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.encoding import token_counter
from tests.conftest import REPO_ROOT
from tests.ingest.cli import json_out, rag

FAKE = "fake:64"
CITATION_FIELDS = (
    "index",
    "document_id",
    "title",
    "source",
    "page",
    "char_start",
    "char_end",
    "chunk_ids",
    "score",
)
TEA = "\n\n".join(
    [
        "# Tea",
        "Tea leaves are picked in spring.",
        "Green tea is steeped at eighty degrees.",
        "Black tea takes boiling water.",
        "Oolong sits between green and black.",
    ]
)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A collection of small chunks (16 tokens) built from a folder of two files."""
    monkeypatch.setenv("RAG_CHUNK_TARGET_TOKENS", "16")
    monkeypatch.setenv("RAG_CHUNK_MAX_TOKENS", "16")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "tea.md").write_text(TEA)
    (docs / "sub" / "coffee.txt").write_text("Espresso is pressed at nine bars. Coffee beans are roasted.")
    assert json_out(rag(tmp_path / "data", FAKE, "ingest", str(docs), "--json"))["added"] == 2
    return tmp_path / "data"


def test_context_json_has_the_api_shape_and_keeps_the_budget(data: Path) -> None:
    count = token_counter("cl100k_base")
    for budget in (1, 20, 60, 500):
        result = rag(data, FAKE, "context", "green tea", "--max-tokens", str(budget), "-k", "2", "--json")
        assert result.exit_code == 0, result.stderr
        body = json.loads(result.stdout)
        assert set(body) == {"context", "citations", "tokens", "model"} and body["model"] == FAKE
        assert body["tokens"] == count(body["context"]) <= budget
        for citation in body["citations"]:
            assert set(citation) == set(CITATION_FIELDS)
            if citation["document_id"] == "tea.md":
                span = TEA[citation["char_start"] : citation["char_end"]]
                assert " ".join(span.split()) in " ".join(body["context"].split())
    ample = json.loads(rag(data, FAKE, "context", "green tea", "--max-tokens", "500", "--json").stdout)
    assert {c["source"] for c in ample["citations"]} <= {"tea.md", "sub/coffee.txt"}
    assert [c["index"] for c in ample["citations"]] == list(range(1, len(ample["citations"]) + 1))


def test_context_prints_numbered_passages_and_honours_the_flags(data: Path) -> None:
    readable = rag(data, FAKE, "context", "espresso", "--max-tokens", "200", "--neighbors", "0", "-k", "1")
    assert readable.stdout.startswith("[1] coffee (sub/coffee.txt)\n")
    bm25 = rag(data, FAKE, "context", "oolong", "--mode", "bm25", "--filter", "format=markdown", "--json")
    [citation] = json_out(bm25)["citations"]
    assert citation["document_id"] == "tea.md"
    o200k = json_out(rag(data, FAKE, "context", "tea", "--encoding", "o200k_base", "--json"))
    assert o200k["tokens"] == token_counter("o200k_base")(o200k["context"])
    nothing = rag(data, FAKE, "context", "tea", "--max-tokens", "1")
    assert nothing.exit_code == 0 and nothing.stdout.startswith("no passages fit")


def test_an_unknown_encoding_or_collection_is_one_error_line(data: Path) -> None:
    env = {**os.environ, "RAG_DOC_MODEL": FAKE, "RAG_QUERY_MODEL": FAKE, "RAG_DATA_DIR": str(data)}
    env["PYTHONPATH"] = str(REPO_ROOT)
    run = [sys.executable, "-m", "ingest", "context", "tea"]
    for extra, expected in ((["--encoding", "nope"], "'nope'"), (["-c", "missing"], "'missing'")):
        result = subprocess.run([*run, *extra], env=env, capture_output=True, text=True, cwd=REPO_ROOT)
        assert result.returncode != 0 and result.stderr.startswith("error: ") and expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1

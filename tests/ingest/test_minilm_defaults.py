"""With the offline MiniLM and default settings: chunks fit the model's window (truncation, when settings
force it, is counted), the default search mode is hybrid, and the first hit does not depend on ``top_k``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.loaders import load_path
from ingest.summary import IngestOptions, chunk_sizes
from rag.embedding.factory import ModelOptions, load_embedder
from rag.settings import Settings
from rag.store import Library
from tests.conftest import REPO_ROOT
from tests.ingest.cli import json_out, rag

MODEL = "all-minilm-l6-v2"
CORPUS = REPO_ROOT / "samples" / "corpus"
# The README's examples and the query whose first hit used to change with top_k.
QUERIES = {
    "who approves travel exceptions?": "policies/travel-and-expenses.html",
    "how do I rotate API keys?": "policies/security.md",
    "expenses for train tickets": "policies/travel-and-expenses.html",
    "on-call handover": "engineering/on-call.txt",
}


def long_document() -> str:
    """~9000 words: every sample document's text, and lines of figures, identifiers and links, which
    cost WordPiece more tokens per cl100k token than prose."""
    texts = [document.text for document in load_path(CORPUS).documents]
    technical = [
        f"Ticket OPS-{n:05d} (https://status.example.com/incidents/{n}?ref=pager&team=sre-{n % 7}) "
        f"closed at 2026-11-{n % 28 + 1:02d}T0{n % 10}:15:00Z after {n * 37 % 1000}.{n % 10} ms p99."
        for n in range(200)
    ]
    return "\n\n".join([*texts, "\n".join(technical), *texts])


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The sample corpus in ``default``, the long document in ``long``; the summaries of both."""
    long_file = tmp_path_factory.mktemp("long") / "long.txt"
    long_file.write_text(long_document(), encoding="utf-8")
    data = tmp_path_factory.mktemp("data")
    summary = json_out(rag(data, MODEL, "ingest", str(CORPUS), "--json"))
    long = json_out(rag(data, MODEL, "ingest", str(long_file), "--collection", "long", "--json"))
    yield data, {"default": summary, "long": long}


def test_chunk_sizes_follow_the_model_window() -> None:
    assert chunk_sizes(None) == (200, 256)  # no limit (e.g. the fake embedder)
    assert chunk_sizes(32768) == (200, 256)  # pplx-embed: today's sizes are kept
    assert chunk_sizes(256) == (132, 169)  # MiniLM: 254 word pieces at 1.5 per cl100k token
    assert chunk_sizes(20) == (16, 16)  # never below the settings' minimum
    derived = IngestOptions.from_settings(Settings(), max_input_tokens=256)
    assert (derived.target_tokens, derived.max_tokens) == (132, 169)
    assert (derived.chunker.target_tokens, derived.chunker.max_tokens) == (132, 169)  # the fingerprint
    chosen = IngestOptions.from_settings(Settings(chunk_max_tokens=512), max_input_tokens=256)
    assert (chosen.target_tokens, chosen.max_tokens) == (132, 512)  # what the user sets wins
    chosen = IngestOptions.from_settings(Settings(chunk_target_tokens=100), max_input_tokens=256)
    assert (chosen.target_tokens, chosen.max_tokens) == (100, 169)


@pytest.mark.model
def test_default_chunks_fit_minilm_and_nothing_is_truncated(
    ingested: tuple[Path, dict[str, Any]], minilm_path: Path
) -> None:
    data, summaries = ingested
    embedder = load_embedder(ModelOptions(doc_model=MODEL, query_model=MODEL))
    assert embedder.max_input_tokens == 256
    library = Library(data)
    texts = []
    try:
        for name, summary in summaries.items():
            assert summary["failed"] == 0 and summary["truncated"] == 0, summary
            collection = library.open_collection(name)
            chunker = collection.fingerprint.chunker
            assert chunker is not None and (chunker.target_tokens, chunker.max_tokens) == (132, 169)
            documents = collection.list_documents(limit=1000)
            texts += [c.text for d in documents for c in collection.get_chunks(d.id)]
    finally:
        library.close()
    assert len(texts) > 150
    counts = embedder.count_tokens(texts)
    assert max(counts) <= 256, max(counts)
    assert sum(embedder.count_truncated([texts])) == 0


@pytest.mark.model
def test_truncation_forced_by_settings_is_counted(tmp_path: Path, minilm_path: Path) -> None:
    (tmp_path / "long.txt").write_text(long_document(), encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAG_CHUNK_TARGET_TOKENS", "400")
        env.setenv("RAG_CHUNK_MAX_TOKENS", "512")
        result = rag(tmp_path / "data", MODEL, "ingest", str(tmp_path / "long.txt"), "--json")
        summary = json_out(result)
        assert summary["truncated"] > 0 and summary["truncated"] <= summary["chunks"]
        shown = rag(tmp_path / "other", MODEL, "ingest", str(tmp_path / "long.txt"))
    assert f"truncated: {summary['truncated']} chunks" in shown.stderr


@pytest.mark.model
def test_default_mode_is_hybrid_and_first_hits_do_not_depend_on_top_k(
    ingested: tuple[Path, dict[str, Any]], minilm_path: Path
) -> None:
    data, _ = ingested
    for query, expected in QUERIES.items():
        default = json_out(rag(data, MODEL, "search", query, "-k", "10", "--json"))
        assert default == json_out(
            rag(data, MODEL, "search", query, "-k", "10", "--mode", "hybrid", "--json")
        )
        assert default[0]["document_id"] == expected, query
        for mode in ("hybrid", "binary+int8"):
            full = json_out(rag(data, MODEL, "search", query, "-k", "10", "--mode", mode, "--json"))
            for top_k in ("1", "3"):
                short = json_out(rag(data, MODEL, "search", query, "-k", top_k, "--mode", mode, "--json"))
                assert [h["chunk_id"] for h in short] == [h["chunk_id"] for h in full[: int(top_k)]], (
                    query,
                    mode,
                )
    dense = json_out(rag(data, MODEL, "search", "on-call handover", "--mode", "binary+int8", "--json"))
    default = json_out(rag(data, MODEL, "search", "on-call handover", "--json"))
    assert [h["score"] for h in dense] != [h["score"] for h in default]  # not the dense ranking


@pytest.mark.model
def test_bm25_finds_words_of_html_table_cells(
    ingested: tuple[Path, dict[str, Any]], minilm_path: Path
) -> None:
    data, _ = ingested
    hits = json_out(rag(data, MODEL, "search", "photo", "--mode", "bm25", "-k", "3", "--json"))
    assert hits[0]["document_id"] == "policies/travel-and-expenses.html"
    assert "Photo in the expenses app" in hits[0]["text"]

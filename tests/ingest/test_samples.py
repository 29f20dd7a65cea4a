"""The bundled sample corpus (``samples/corpus``) that ``make run`` ingests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ingest.loaders import load_path
from tests.conftest import REPO_ROOT
from tests.ingest.cli import json_out, rag

CORPUS = REPO_ROOT / "samples" / "corpus"


def test_sample_corpus_loads_without_failures_in_mixed_formats() -> None:
    result = load_path(CORPUS)
    assert result.failures == []
    files = {d.source for d in result.documents}
    assert 8 <= len(files) <= 12
    formats = Counter(d.metadata.get("format") for d in result.documents)
    assert {"markdown", "text", "html", "faq"} <= set(formats)
    words = sum(len(d.text.split()) for d in result.documents)
    assert 3000 <= words <= 8000
    assert all(d.title for d in result.documents)


@pytest.mark.model
def test_sample_corpus_answers_a_handbook_question_with_minilm(tmp_path: Path, minilm_path: Path) -> None:
    model = "all-minilm-l6-v2"
    summary = json_out(rag(tmp_path / "data", model, "ingest", str(CORPUS), "--json"))
    assert (summary["failed"], summary["added"]) == (0, 20)
    hits = json_out(rag(tmp_path / "data", model, "search", "how do I rotate keys", "-k", "3", "--json"))
    assert hits[0]["document_id"] == "policies/security.md"
    assert "Rotating keys" in hits[0]["text"]

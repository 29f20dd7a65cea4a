"""The embeddings endpoints count tokens with the served model's tokenizer, for the limits and for usage.

Served here: tiny pplx-embed checkpoints with Qwen's real BPE rules, pplx-embed-context-v1 for documents
and pplx-embed-v1 for queries (the default pairing), and the real MiniLM. Every expected number comes
from a tokenizer loaded independently from the model's folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tokenizers import Tokenizer

import api.wire
from api.app import create_app
from rag.embedding.base import SPECIAL_TOKENS_BOUND, PairedEmbedder
from rag.embedding.factory import ModelOptions, load_embedder
from tests.api.conftest import make_settings
from tests.rag.embedding.conftest import make_pplx
from tests.rag.embedding.tiny_checkpoints import ENDOFTEXT, write_pplx_checkpoint

QUERY_MODEL = "pplx-embed-v1-tiny"
DOC_MODEL = "pplx-embed-context-v1-tiny"
TEXTS = ["what is late chunking?", "Binary codes are compared by Hamming distance.", "naïve café ✓"]
DOCUMENTS = [
    ["Late chunking embeds a whole document at once.", "Each chunk is then pooled over its own tokens."],
    ["A one-chunk document."],
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pplx-api")
    return {
        QUERY_MODEL: write_pplx_checkpoint(root / QUERY_MODEL, contextual=False, seed=1),
        DOC_MODEL: write_pplx_checkpoint(root / DOC_MODEL, contextual=True, seed=2),
    }


@pytest.fixture(scope="module")
def paired(folders: dict[str, Path]) -> PairedEmbedder:
    return PairedEmbedder(documents=make_pplx(folders[DOC_MODEL]), queries=make_pplx(folders[QUERY_MODEL]))


@pytest.fixture(scope="module")
def qwen(folders: dict[str, Path]) -> Tokenizer:
    """The query model's tokenizer (the document model's tokenizer.json is the same file)."""
    assert (folders[QUERY_MODEL] / "tokenizer.json").read_text() == (
        folders[DOC_MODEL] / "tokenizer.json"
    ).read_text()
    return Tokenizer.from_file(str(folders[QUERY_MODEL] / "tokenizer.json"))


@pytest.fixture
def client(tmp_path: Path, paired: PairedEmbedder) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), embedder=paired)) as test_client:
        yield test_client


def query_tokens(tokenizer: Tokenizer, texts: list[str]) -> list[int]:
    return [len(tokenizer.encode(text).ids) for text in texts]


def document_tokens(tokenizer: Tokenizer, documents: list[list[str]]) -> list[int]:
    """A document as the context model reads it: chunks joined by the separator, tokenized once."""
    return [len(tokenizer.encode(ENDOFTEXT.join(chunks)).ids) for chunks in documents]


def estimate(texts: list[str]) -> int:
    """The byte-based upper bound the server used before it counted tokens."""
    return sum(len(text.encode("utf-8")) + SPECIAL_TOKENS_BOUND for text in texts)


def post_texts(client: TestClient, texts: list[str]) -> Any:
    return client.post("/v1/embeddings", json={"input": texts, "model": QUERY_MODEL})


def post_documents(client: TestClient, documents: list[list[str]]) -> Any:
    return client.post("/v1/contextualizedembeddings", json={"input": documents, "model": DOC_MODEL})


def test_usage_is_the_query_tokenizers_count(client: TestClient, qwen: Tokenizer) -> None:
    response = post_texts(client, TEXTS)
    assert response.status_code == 200, response.text
    expected = sum(query_tokens(qwen, TEXTS))
    assert response.json()["usage"]["prompt_tokens"] == response.json()["usage"]["total_tokens"] == expected
    assert expected < estimate(TEXTS)


def test_document_usage_counts_the_separators(client: TestClient, qwen: Tokenizer) -> None:
    response = post_documents(client, DOCUMENTS)
    assert response.status_code == 200, response.text
    expected = sum(document_tokens(qwen, DOCUMENTS))
    # One separator between the two chunks of the first document, none in the one-chunk document.
    chunks = [chunk for chunks in DOCUMENTS for chunk in chunks]
    assert expected == sum(query_tokens(qwen, chunks)) + 1
    assert response.json()["usage"]["prompt_tokens"] == response.json()["usage"]["total_tokens"] == expected


def assert_refused(response: Any, limit: int) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error_type"] == "validation_error"
    assert f"the limit is {limit}" in response.json()["error"]["message"]


def test_an_input_at_the_limit_passes_and_one_token_over_is_refused(
    client: TestClient, qwen: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    [tokens] = query_tokens(qwen, TEXTS[1:2])
    assert tokens < estimate(TEXTS[1:2])  # so the 200 below needs the exact count
    monkeypatch.setattr(api.wire, "MAX_TOKENS_PER_INPUT", tokens)
    assert post_texts(client, TEXTS[1:2]).status_code == 200
    monkeypatch.setattr(api.wire, "MAX_TOKENS_PER_INPUT", tokens - 1)
    assert_refused(post_texts(client, TEXTS[1:2]), tokens - 1)


def test_a_document_at_the_limit_passes_and_one_token_over_is_refused(
    client: TestClient, qwen: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit sees the separator: a count of the chunks alone would pass at ``tokens - 1``."""
    [tokens] = document_tokens(qwen, DOCUMENTS[:1])
    monkeypatch.setattr(api.wire, "MAX_TOKENS_PER_INPUT", tokens)
    assert post_documents(client, DOCUMENTS[:1]).status_code == 200
    monkeypatch.setattr(api.wire, "MAX_TOKENS_PER_INPUT", tokens - 1)
    assert_refused(post_documents(client, DOCUMENTS[:1]), tokens - 1)


def test_a_request_at_the_limit_passes_and_one_token_over_is_refused(
    client: TestClient, qwen: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any, as in post_texts: the response is the test client's (httpx2 or httpx, as starlette finds).
    requests: list[tuple[Callable[[], Any], int]] = [
        (lambda: post_texts(client, TEXTS), sum(query_tokens(qwen, TEXTS))),
        (lambda: post_documents(client, DOCUMENTS), sum(document_tokens(qwen, DOCUMENTS))),
    ]
    for post, total in requests:
        monkeypatch.setattr(api.wire, "MAX_TOKENS_PER_REQUEST", total)
        assert post().status_code == 200
        monkeypatch.setattr(api.wire, "MAX_TOKENS_PER_REQUEST", total - 1)
        assert_refused(post(), total - 1)


@pytest.mark.model
def test_minilm_usage_is_its_tokenizers_count(tmp_path: Path, minilm_path: Path) -> None:
    minilm = Tokenizer.from_file(str(minilm_path / "tokenizer.json"))
    minilm.no_truncation()
    minilm.no_padding()
    embedder = load_embedder(ModelOptions(doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2"))
    with TestClient(create_app(make_settings(tmp_path), embedder=embedder)) as client:
        texts = client.post("/v1/embeddings", json={"input": TEXTS, "model": "all-minilm-l6-v2"})
        body = {"input": DOCUMENTS, "model": "all-minilm-l6-v2"}
        documents = client.post("/v1/contextualizedembeddings", json=body)
    assert texts.json()["usage"]["prompt_tokens"] == sum(query_tokens(minilm, TEXTS))
    # MiniLM embeds document chunks alone (isolated), each with its own [CLS] and [SEP].
    chunks = [chunk for chunks in DOCUMENTS for chunk in chunks]
    assert documents.json()["usage"]["prompt_tokens"] == sum(query_tokens(minilm, chunks))

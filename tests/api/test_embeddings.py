"""The hosted-API-compatible endpoints decode to exactly what the in-process backend computes."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.served_models import model_names
from api.wire import MAX_CHUNKS, MAX_TOKENS_PER_INPUT, check_tokens
from rag.embedding.base import Embedder
from rag.embedding.fake import HashEmbedder
from rag.errors import InvalidInputError
from tests.api.conftest import make_settings

TEXTS = ["what is late chunking?", "binary codes are compared by Hamming distance", "int8 by cosine"]


def _int8(encoded: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded), dtype=np.int8)


def _lsb_bits(encoded: str, dimensions: int) -> np.ndarray:
    """Sign bits (0/1) of an LSB-first ``base64_binary`` embedding, as the hosted API's docs decode it."""
    return np.unpackbits(np.frombuffer(base64.b64decode(encoded), dtype=np.uint8), bitorder="little")[
        :dimensions
    ]


def _check_matches(client: TestClient, embedder: Embedder, model: str, dimensions: int | None = None) -> None:
    expected = embedder.embed_queries(TEXTS)
    width = dimensions or embedder.dimensions
    body: dict[str, Any] = {"input": TEXTS, "model": model, "dimensions": dimensions}
    as_int8 = client.post("/v1/embeddings", json=body)
    assert as_int8.status_code == 200, as_int8.text
    as_bits = client.post("/v1/embeddings", json=body | {"encoding_format": "base64_binary"})
    for i, (code, bits) in enumerate(zip(as_int8.json()["data"], as_bits.json()["data"], strict=True)):
        assert code["index"] == bits["index"] == i and code["object"] == "embedding"
        np.testing.assert_array_equal(_int8(code["embedding"]), expected.int8[i, :width])
        msb_first = np.unpackbits(expected.bits[i])[:width]
        np.testing.assert_array_equal(_lsb_bits(bits["embedding"], width), msb_first)
        assert len(base64.b64decode(bits["embedding"])) == width // 8


@pytest.fixture
def fake_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), embedder=HashEmbedder(64))) as client:
        yield client


@pytest.mark.parametrize("dimensions", [None, 32, 8])
def test_embeddings_decode_to_the_backend_int8_and_bits(
    fake_client: TestClient, dimensions: int | None
) -> None:
    _check_matches(fake_client, HashEmbedder(64), "fake:64", dimensions)


def test_response_shape_is_the_hosted_one(fake_client: TestClient) -> None:
    body = fake_client.post("/v1/embeddings", json={"input": "one text", "model": "fake:64"}).json()
    assert body["object"] == "list" and body["model"] == "fake:64" and len(body["data"]) == 1
    usage = body["usage"]
    assert usage["prompt_tokens"] == usage["total_tokens"] > 0
    assert usage["cost"] == {"input_cost": 0.0, "total_cost": 0.0, "currency": "USD"}


def test_contextualized_embeddings_match_embed_documents(fake_client: TestClient) -> None:
    documents = [["The first chunk.", "The second chunk."], ["Another document, one chunk."]]
    expected = HashEmbedder(64).embed_documents(documents)
    for encoding in ("base64_int8", "base64_binary"):
        body = {"input": documents, "model": "fake:64", "encoding_format": encoding}
        response = fake_client.post("/v1/contextualizedembeddings", json=body)
        assert response.status_code == 200, response.text
        for d, document in enumerate(response.json()["data"]):
            assert document["object"] == "list" and document["index"] == d
            for c, chunk in enumerate(document["data"]):
                if encoding == "base64_int8":
                    np.testing.assert_array_equal(_int8(chunk["embedding"]), expected[d].int8[c])
                else:
                    np.testing.assert_array_equal(
                        _lsb_bits(chunk["embedding"], 64), np.unpackbits(expected[d].bits[c])
                    )


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/embeddings", {"input": [], "model": "fake:64"}, 422),
        ("/v1/embeddings", {"input": ["ok", ""], "model": "fake:64"}, 422),
        ("/v1/embeddings", {"input": ["x"] * 513, "model": "fake:64"}, 422),
        ("/v1/embeddings", {"input": "x", "model": "pplx-embed-v1-4b"}, 404),
        ("/v1/embeddings", {"input": "x", "model": "fake:64", "dimensions": 128}, 422),
        (
            "/v1/embeddings",
            {"input": "x", "model": "fake:64", "dimensions": 12, "encoding_format": "base64_binary"},
            422,
        ),
        ("/v1/embeddings", {"input": "x", "model": "fake:64", "encoding_format": "float16"}, 422),
        ("/v1/embeddings", {"input": [[101, 10**7]], "model": "fake:64", "encoding_format": "float"}, 422),
        (
            "/v1/contextualizedembeddings",
            {"input": [["a"]], "model": "fake:64", "encoding_format": "float"},
            422,
        ),
        ("/v1/embeddings", {"input": "x " * (MAX_TOKENS_PER_INPUT + 1), "model": "fake:64"}, 422),
        ("/v1/contextualizedembeddings", {"input": [[]], "model": "fake:64"}, 422),
        ("/v1/contextualizedembeddings", {"input": [["a", ""]], "model": "fake:64"}, 422),
        ("/v1/contextualizedembeddings", {"input": [["a"]] * (MAX_CHUNKS + 1), "model": "fake:64"}, 422),
        ("/v1/contextualizedembeddings", {"input": [["a"] * (MAX_CHUNKS + 1)], "model": "fake:64"}, 422),
    ],
)
def test_hosted_limits_and_model_names_are_enforced(
    fake_client: TestClient, path: str, body: dict[str, Any], status: int
) -> None:
    response = fake_client.post(path, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "error_type"}


def test_model_answers_to_its_hub_id_and_its_short_name() -> None:
    assert model_names("perplexity-ai/pplx-embed-v1-0.6b") == {
        "perplexity-ai/pplx-embed-v1-0.6b",
        "pplx-embed-v1-0.6b",
    }
    assert model_names("/models/pplx-embed-context-v1-0.6b/") >= {"pplx-embed-context-v1-0.6b"}


def test_request_token_limit() -> None:
    assert check_tokens([10, 20]) == 30
    with pytest.raises(InvalidInputError, match="120000"):
        check_tokens([30_000] * 5)


def test_usage_is_the_embedders_own_count(fake_client: TestClient) -> None:
    """The fake's tokens are its words (a byte estimate would say 19 and 10 + 2 * 2)."""
    body = fake_client.post("/v1/embeddings", json={"input": "three short words", "model": "fake:64"}).json()
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 3
    documents = {"input": [["one two", "three"]], "model": "fake:64"}
    body = fake_client.post("/v1/contextualizedembeddings", json=documents).json()
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 3


@pytest.mark.model
def test_minilm_embeddings_match_the_in_process_backend(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2")
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120
        while (ready := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.status_code == 200, ready.text
        backend = client.app.state.rag.embedder  # type: ignore[attr-defined]
        assert backend.dimensions == 384 and backend.model_name == "all-minilm-l6-v2"
        _check_matches(client, backend, "all-minilm-l6-v2")
        _check_matches(client, backend, "all-minilm-l6-v2", dimensions=128)

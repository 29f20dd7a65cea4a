"""OpenAI's formats on ``/v1/embeddings``, ``/v1/models``, model aliases and the SDK-readable error body,
in process on the fake embedder (the real SDKs against a real server: ``test_openai_sdks.py``)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from ingest.encoding import get_encoding
from rag.embedding.fake import HashEmbedder
from rag.errors import ConfigError
from rag.types import Embeddings
from tests.api.conftest import make_settings
from tests.rag.embedding.tiny_checkpoints import write_pplx_checkpoint

TEXTS = ["what is late chunking?", "binary codes are compared by Hamming distance", "int8 by cosine"]
ALIASES = "pplx-embed-v1-0.6b=fake:64,pplx-embed-context-v1-0.6b=fake:64"
ERROR_TYPES = {404: "not_found", 405: "method_not_allowed", 422: "validation_error"}


def unit(rows: np.ndarray) -> np.ndarray:
    scaled: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return scaled


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, model_aliases=ALIASES)
    with TestClient(create_app(settings, embedder=HashEmbedder(64))) as test_client:
        yield test_client


def _embed(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/embeddings", json={"input": TEXTS, "model": "fake:64"} | body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("dimensions", [None, 20])
def test_float_and_base64_are_the_unit_length_floats(client: TestClient, dimensions: int | None) -> None:
    floats = HashEmbedder(64).embed_queries(TEXTS, with_floats=True).floats
    assert floats is not None
    expected = unit(floats[:, : dimensions or 64].astype(np.float64))
    as_numbers = _embed(client, encoding_format="float", dimensions=dimensions)
    as_base64 = _embed(client, encoding_format="base64", dimensions=dimensions)
    for i, (number, encoded) in enumerate(zip(as_numbers["data"], as_base64["data"], strict=True)):
        assert number["index"] == encoded["index"] == i and number["object"] == "embedding"
        vector = np.array(number["embedding"])
        decoded = np.frombuffer(base64.b64decode(encoded["embedding"]), dtype="<f4")
        np.testing.assert_allclose(vector, expected[i], atol=1e-6)
        np.testing.assert_array_equal(decoded, vector.astype(np.float32))
        assert abs(np.linalg.norm(vector) - 1) < 1e-6


def test_openai_response_shape_and_usage(client: TestClient) -> None:
    body = _embed(client, input="three short words", encoding_format="float", user="someone")
    assert set(body) == {"object", "data", "model", "usage"} and body["object"] == "list"
    assert body["model"] == "fake:64" and len(body["data"]) == 1
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}  # no pplx cost object
    assert set(body["data"][0]) == {"object", "index", "embedding"}


def test_pplx_formats_keep_their_shape_and_stay_the_default(client: TestClient) -> None:
    default = _embed(client)
    assert default == _embed(client, encoding_format="base64_int8", user="ignored")
    assert default["usage"]["cost"]["currency"] == "USD"
    assert len(base64.b64decode(default["data"][0]["embedding"])) == 64  # int8 codes, not float32


def test_aliases_answer_on_every_embeddings_route(client: TestClient) -> None:
    aliased = _embed(client, model="pplx-embed-v1-0.6b")
    assert aliased["model"] == "pplx-embed-v1-0.6b"
    assert aliased["data"] == _embed(client)["data"]
    body = {"input": [["one chunk", "two chunks"]], "model": "pplx-embed-context-v1-0.6b"}
    response = client.post("/v1/contextualizedembeddings", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "pplx-embed-context-v1-0.6b"


def test_models_lists_the_served_model_and_its_aliases(client: TestClient) -> None:
    listing = client.get("/v1/models").json()
    assert listing["object"] == "list"
    assert [model["id"] for model in listing["data"]] == [
        "fake:64",
        *ALIASES.replace("=fake:64", "").split(","),
    ]
    for model in listing["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"} and model["object"] == "model"
        assert isinstance(model["created"], int) and model["owned_by"] == "pplx-rag"
    one = client.get("/v1/models/pplx-embed-v1-0.6b")
    assert one.status_code == 200 and one.json() == listing["data"][1]


def test_a_paired_setup_lists_both_models_and_checks_each_side(tmp_path: Path) -> None:
    """Two tiny pplx-embed folders, the query one reached through a symlink named like the hosted model."""
    document = write_pplx_checkpoint(tmp_path / "pplx-embed-context-v1-tiny", contextual=True, seed=2)
    query = tmp_path / "links" / "pplx-embed-v1-0.6b"
    query.parent.mkdir()
    query.symlink_to(write_pplx_checkpoint(tmp_path / "snapshot-9f1c", contextual=False, seed=1))
    aliases = "pplx-embed-context-v1-0.6b=pplx-embed-context-v1-tiny"
    settings = make_settings(
        tmp_path, doc_model=str(document), query_model=str(query), device="cpu", model_aliases=aliases
    )
    with TestClient(create_app(settings)) as client:
        ids = [model["id"] for model in client.get("/v1/models").json()["data"]]
        assert ids == ["pplx-embed-context-v1-tiny", "pplx-embed-context-v1-0.6b", "pplx-embed-v1-0.6b"]
        # The spec as configured answers too, and an id holding '/' reaches the route.
        assert client.get(f"/v1/models/{query}").status_code == 200
        assert client.get("/v1/models/perplexity-ai/pplx-embed-v1-0.6b").status_code == 404
        _wait_ready(client)
        assert _embed(client, model="pplx-embed-v1-0.6b")["model"] == "pplx-embed-v1-0.6b"
        wrong_side = {"input": [["a"]], "model": "pplx-embed-v1-0.6b"}
        refused = client.post("/v1/contextualizedembeddings", json=wrong_side)
        assert refused.status_code == 404
        message = refused.json()["error"]["message"]
        assert "as the document model; use one of " in message and "'pplx-embed-context-v1-0.6b'" in message


def _wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "sentence"),
    [
        ("POST", "/v1/embeddings", {"input": "x", "model": "pplx-embed-v1-4b"}, 404, "use one of 'fake:64'"),
        ("POST", "/v1/embeddings", {"input": "x", "model": "fake:64", "encoding_format": "int4"}, 422,
         "Input should be 'base64_int8', 'base64_binary', 'float' or 'base64'"),
        ("POST", "/v1/embeddings", {"input": "x", "model": "fake:64", "dimensions": 65}, 422, "at most 64"),
        ("POST", "/v1/contextualizedembeddings", {"input": [[]], "model": "fake:64"}, 422, "at least 1 item"),
        ("GET", "/v1/models/text-embedding-3-small", None, 404, "the served models are 'fake:64'"),
        ("POST", "/v1/models", {}, 405, "Method Not Allowed"),
    ],
)  # fmt: skip
def test_errors_on_these_routes_carry_openais_error_object(
    client: TestClient, method: str, path: str, body: object, status: int, sentence: str
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"error", "error_type"}
    error = answer["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error["code"] == answer["error_type"] == ERROR_TYPES[status]
    assert sentence in error["message"]


def test_the_other_routes_keep_the_plain_error_body(client: TestClient) -> None:
    for response in (client.post("/v1/search", json={}), client.get("/v1/no-such-route")):
        assert isinstance(response.json()["error"], str)


def test_token_ids_are_decoded_as_the_client_meant_them(client: TestClient) -> None:
    """langchain-openai (and the apps on it) send cl100k_base token ids by default."""
    encoding = get_encoding("cl100k_base")
    texts = ["how do I rotate API keys?", "late chunking"]
    as_text = client.post("/v1/embeddings", json={"input": texts, "model": "fake:64"}).json()
    as_ids = [encoding.encode(text) for text in texts]
    for given in (as_ids, [as_ids[0], texts[1]]):
        response = client.post("/v1/embeddings", json={"input": given, "model": "fake:64"})
        assert response.status_code == 200
        assert response.json()["data"] == as_text["data"]
    one = client.post("/v1/embeddings", json={"input": as_ids[0], "model": "fake:64"}).json()
    assert one["data"] == as_text["data"][:1]


@pytest.mark.parametrize("bad", [10**7, 100256, -1, 2**70], ids=["past-the-end", "hole", "negative", "huge"])
def test_token_ids_outside_the_vocabulary_are_refused(client: TestClient, bad: int) -> None:
    """100256 lies inside cl100k_base's id range but names no token; -1 and 2**70 overflow tiktoken."""
    response = client.post("/v1/embeddings", json={"input": [[15339, bad]], "model": "fake:64"})
    assert response.status_code == 422
    assert f"token id {bad} is not in cl100k_base" in response.json()["error"]["message"]


def test_an_alias_of_a_model_not_served_stops_the_service_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names a model that is not served; served: fake:64"):
        create_app(make_settings(tmp_path, model_aliases="pplx-embed-v1-0.6b=all-minilm-l6-v2"))
    paired = make_settings(
        tmp_path, doc_model="fake:32", query_model="fake:64", model_aliases="fake:32=fake:64"
    )
    with pytest.raises(ConfigError, match="already the name of the document model"):
        create_app(paired)
    with pytest.raises(ValidationError, match="has no '='"):
        make_settings(tmp_path, model_aliases="pplx-embed-v1-0.6b")


class _BrokenEmbedder(HashEmbedder):
    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        raise RuntimeError("secret document text")


def test_an_unexpected_failure_is_a_500_in_the_same_shape(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), embedder=_BrokenEmbedder(64))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/embeddings", json={"input": "x", "model": "fake:64", "encoding_format": "float"}
        )
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "internal server error.",
            "type": "internal_error",
            "param": None,
            "code": "internal_error",
        },
        "error_type": "internal_error",
    }

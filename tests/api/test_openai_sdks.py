"""The real OpenAI, langchain-openai and Perplexity clients, unchanged but for ``base_url``, against a real
uvicorn server on loopback: the fake model with API keys and aliases, and (``model``) the offline MiniLM
with a symlinked folder named like the hosted document model and an alias for the hosted query model."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import perplexity
import pytest
from langchain_openai import OpenAIEmbeddings

from ingest.encoding import default_cache_dir, get_encoding
from rag.embedding.base import Embedder
from rag.embedding.factory import ModelOptions, load_embedder
from rag.embedding.fake import HashEmbedder
from tests.api.conftest import (
    KEY_CONFIG,
    KEYS,
    LiveServer,
    free_port,
    server_env,
    start_server,
    stop_server,
    uvicorn_command,
)
from tests.conftest import REPO_ROOT

TEXTS = [
    "Refunds are paid within thirty days.",
    "Rotate API keys every ninety days.",
    "The office is closed.",
]
DOCUMENTS = [["Late chunking embeds a document once.", "Each chunk pools its own span."], ["One chunk."]]
FAKE_ALIASES = (
    "pplx-embed-v1-0.6b=fake:64,pplx-embed-context-v1-0.6b=fake:64,perplexity-ai/pplx-embed-v1-4b=fake:64"
)


def unit_floats(embedder: Embedder, texts: list[str], width: int | None = None) -> np.ndarray:
    floats = embedder.embed_queries(texts, with_floats=True).floats
    assert floats is not None
    prefix = floats[:, : width or embedder.dimensions].astype(np.float64)
    unit: np.ndarray = prefix / np.linalg.norm(prefix, axis=1, keepdims=True)
    return unit


def int8_codes(encoded: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded), dtype=np.int8)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path_factory.mktemp("sdk-fake"),
        RAG_API_KEYS=json.dumps(KEY_CONFIG),
        RAG_MODEL_ALIASES=FAKE_ALIASES,
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def openai_client(fake_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEYS["reader"], base_url=f"{fake_server.url}/v1", max_retries=0) as client:
        yield client


def test_openai_default_base64_decodes_to_the_unit_floats(openai_client: openai.OpenAI) -> None:
    response = openai_client.embeddings.create(model="fake:64", input=TEXTS)
    vectors = np.array([item.embedding for item in response.data])
    np.testing.assert_allclose(vectors, unit_floats(HashEmbedder(64), TEXTS), atol=1e-6)
    assert [item.index for item in response.data] == [0, 1, 2]
    assert response.usage.prompt_tokens == response.usage.total_tokens > 0
    assert response.model == "fake:64"


def test_openai_float_single_string_user_and_dimensions(openai_client: openai.OpenAI) -> None:
    response = openai_client.embeddings.create(
        model="pplx-embed-v1-0.6b", input=TEXTS[0], encoding_format="float", user="user-42", dimensions=16
    )
    assert len(response.data) == 1 and len(response.data[0].embedding) == 16
    expected = unit_floats(HashEmbedder(64), TEXTS[:1], width=16)[0]
    np.testing.assert_allclose(response.data[0].embedding, expected, atol=1e-6)
    assert abs(np.linalg.norm(response.data[0].embedding) - 1) < 1e-6


def test_openai_lists_and_retrieves_models(openai_client: openai.OpenAI) -> None:
    ids = [model.id for model in openai_client.models.list()]
    assert ids == [
        "fake:64",
        "pplx-embed-v1-0.6b",
        "pplx-embed-context-v1-0.6b",
        "perplexity-ai/pplx-embed-v1-4b",
    ]
    model = openai_client.models.retrieve("pplx-embed-context-v1-0.6b")
    assert (model.id, model.object, model.owned_by) == ("pplx-embed-context-v1-0.6b", "model", "pplx-rag")
    # The SDK percent-encodes the '/' of a hub-style id; the route takes the id whole.
    assert (
        openai_client.models.retrieve("perplexity-ai/pplx-embed-v1-4b").id == "perplexity-ai/pplx-embed-v1-4b"
    )


def test_openai_errors_carry_our_sentence(openai_client: openai.OpenAI, fake_server: LiveServer) -> None:
    with pytest.raises(
        openai.NotFoundError, match="model 'text-embedding-3-small' is not served here"
    ) as caught:
        openai_client.embeddings.create(model="text-embedding-3-small", input="x")
    assert caught.value.code == "not_found"
    with pytest.raises(openai.NotFoundError, match="the served models are 'fake:64'"):
        openai_client.models.retrieve("text-embedding-3-large")
    with pytest.raises(openai.UnprocessableEntityError, match="dimensions must be at most 64"):
        openai_client.embeddings.create(model="fake:64", input="x", dimensions=65)
    with openai.OpenAI(api_key="not-a-key", base_url=f"{fake_server.url}/v1", max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError, match="the API key is not known"):
            stranger.models.list()


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/models"), ("GET", "/v1/models/fake:64"), ("POST", "/v1/embeddings")]
)
def test_no_key_is_401_when_keys_are_on(fake_server: LiveServer, method: str, path: str) -> None:
    body = {"model": "fake:64", "input": "x", "encoding_format": "float"} if method == "POST" else None
    response = httpx.request(method, fake_server.url + path, json=body, timeout=30)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["message"].startswith("an API key is required")
    assert response.json()["error_type"] == "unauthorized"


@pytest.fixture(scope="module")
def perplexity_client(fake_server: LiveServer) -> Iterator[perplexity.Perplexity]:
    with perplexity.Perplexity(api_key=KEYS["reader"], base_url=fake_server.url, max_retries=0) as client:
        yield client


def test_perplexity_sdk_through_aliases_gets_the_backends_codes(
    perplexity_client: perplexity.Perplexity,
) -> None:
    backend = HashEmbedder(64)
    response = perplexity_client.embeddings.create(input=TEXTS, model="pplx-embed-v1-0.6b")
    assert response.data is not None
    codes = np.stack([int8_codes(str(item.embedding)) for item in response.data])
    np.testing.assert_array_equal(codes, backend.embed_queries(TEXTS).int8)
    documents = perplexity_client.contextualized_embeddings.create(
        input=DOCUMENTS, model="pplx-embed-context-v1-0.6b"
    )
    assert documents.data is not None
    for expected, document in zip(backend.embed_documents(DOCUMENTS), documents.data, strict=True):
        assert document.data is not None
        got = np.stack([int8_codes(str(chunk.embedding)) for chunk in document.data])
        np.testing.assert_array_equal(got, expected.int8)


def test_perplexity_sdk_errors_carry_our_sentence(perplexity_client: perplexity.Perplexity) -> None:
    with pytest.raises(perplexity.UnprocessableEntityError, match="dimensions must be at most 64"):
        perplexity_client.embeddings.create(input="x", model="pplx-embed-v1-0.6b", dimensions=128)


# The offline MiniLM: real vectors, compared with the same models loaded in process.

MINILM_DOCUMENT_LINK = "pplx-embed-context-v1-0.6b"


@pytest.fixture(scope="module")
def minilm_link(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    link = tmp_path_factory.mktemp("models") / MINILM_DOCUMENT_LINK
    link.symlink_to(minilm_path, target_is_directory=True)
    return link


@pytest.fixture(scope="module")
def minilm_backend(minilm_link: Path) -> Embedder:
    return load_embedder(
        ModelOptions(doc_model=str(minilm_link), query_model="all-minilm-l6-v2", device="cpu")
    )


@pytest.fixture(scope="module")
def minilm_server(tmp_path_factory: pytest.TempPathFactory, minilm_link: Path) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path_factory.mktemp("sdk-minilm"),
        RAG_DOC_MODEL=str(minilm_link),
        RAG_QUERY_MODEL="all-minilm-l6-v2",
        RAG_DEVICE="cpu",
        RAG_MODEL_ALIASES="pplx-embed-v1-0.6b=all-minilm-l6-v2",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    yield server
    stop_server(server)


@pytest.mark.model
def test_minilm_openai_floats_are_the_backends_normalized(
    minilm_server: LiveServer, minilm_backend: Embedder
) -> None:
    with openai.OpenAI(api_key="unused", base_url=f"{minilm_server.url}/v1", max_retries=0) as client:
        for encoding in ("float", "base64"):
            response = client.embeddings.create(
                model="all-minilm-l6-v2", input=TEXTS, encoding_format=encoding
            )
            got = np.array(
                [item.embedding for item in response.data]
                if encoding == "float"
                else [
                    np.frombuffer(base64.b64decode(str(item.embedding)), dtype="<f4")
                    for item in response.data
                ]
            )
            np.testing.assert_allclose(got, unit_floats(minilm_backend, TEXTS), atol=1e-6)
        models = [model.id for model in client.models.list()]
    assert models == [MINILM_DOCUMENT_LINK, "all-minilm-l6-v2", "pplx-embed-v1-0.6b"]


@pytest.mark.model
@pytest.mark.parametrize("token_ids", [True, False], ids=["default-token-ids", "text"])
def test_minilm_through_langchain_ranks_sensibly(
    minilm_server: LiveServer, minilm_backend: Embedder, token_ids: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default langchain-openai sends cl100k_base token ids (what LibreChat's RAG API does); the
    server decodes them, so both ways give the backend's vectors."""
    get_encoding("cl100k_base")  # the client's tiktoken reads the same offline files
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(default_cache_dir()))
    # base_url / api_key are the fields' aliases, as users pass them (the pydantic plugin sees names only)
    embeddings = OpenAIEmbeddings(  # type: ignore[call-arg]
        base_url=f"{minilm_server.url}/v1",
        api_key="unused",  # type: ignore[arg-type]  # a plain str, as users pass it
        model="all-minilm-l6-v2",
        check_embedding_ctx_length=token_ids,
    )
    documents = np.array(embeddings.embed_documents(TEXTS))
    np.testing.assert_allclose(documents, unit_floats(minilm_backend, TEXTS), atol=1e-6)
    for query, best in [
        ("How long until I get my money back?", 0),
        ("When should credentials be changed?", 1),
    ]:
        vector = np.array(embeddings.embed_query(query))
        np.testing.assert_allclose(vector, unit_floats(minilm_backend, [query])[0], atol=1e-6)
        cosines = documents @ vector
        assert int(np.argmax(cosines)) == best, cosines


@pytest.mark.model
def test_minilm_perplexity_sdk_by_alias_and_by_symlink(
    minilm_server: LiveServer, minilm_backend: Embedder
) -> None:
    with perplexity.Perplexity(api_key="unused", base_url=minilm_server.url, max_retries=0) as client:
        queries = client.embeddings.create(input=TEXTS, model="pplx-embed-v1-0.6b")  # the alias
        documents = client.contextualized_embeddings.create(
            input=DOCUMENTS, model="pplx-embed-context-v1-0.6b"
        )
    assert queries.data is not None and documents.data is not None
    codes = np.stack([int8_codes(str(item.embedding)) for item in queries.data])
    np.testing.assert_array_equal(codes, minilm_backend.embed_queries(TEXTS).int8)
    for expected, document in zip(minilm_backend.embed_documents(DOCUMENTS), documents.data, strict=True):
        assert document.data is not None
        got = np.stack([int8_codes(str(chunk.embedding)) for chunk in document.data])
        np.testing.assert_array_equal(got, expected.int8)


@pytest.mark.parametrize(
    ("aliases", "sentence"),
    [
        ("pplx-embed-v1-0.6b", b"RAG_MODEL_ALIASES: 'pplx-embed-v1-0.6b' has no '='"),
        ("pplx-embed-v1-0.6b=all-minilm-l6-v2", b"names a model that is not served; served: fake:64"),
    ],
)
def test_a_bad_alias_stops_the_server_at_start(tmp_path: Path, aliases: str, sentence: bytes) -> None:
    env = server_env(tmp_path, RAG_MODEL_ALIASES=aliases)
    done = subprocess.run(
        uvicorn_command(free_port()), cwd=REPO_ROOT, env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert sentence in done.stderr

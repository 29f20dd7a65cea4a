"""TEI compatibility: huggingface_hub's InferenceClient against our /embed and root route, and the
``tei:<url>`` backend against our server; both must give the local query codes."""

from __future__ import annotations

from pathlib import Path

import httpx
import huggingface_hub.constants
import numpy as np
import pytest
from huggingface_hub import InferenceClient

from rag.embedding.factory import ModelOptions, load_embedder
from rag.errors import ConfigError, EmbeddingError
from rag.fingerprint import CollectionFingerprint, check_compatible
from rag.types import DocumentMode
from tests.api.conftest import LiveServer, free_port
from tests.rag.embedding.conftest import make_pplx
from tests.rag.embedding.hosted_fixtures import API_KEY, V1
from tests.rag.embedding.test_pplx import DOCUMENT, TEXTS

Hosted = tuple[LiveServer, dict[str, Path]]


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub refuses every call while HF_HUB_OFFLINE is set (read once, at import)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.mark.parametrize("path", ["", "/embed"])
def test_inference_client_gets_the_local_codes(hosted_api: Hosted, online: None, path: str) -> None:
    server, models = hosted_api
    client = InferenceClient(base_url=server.url + path, api_key=API_KEY)
    local = make_pplx(models[V1]).embed_queries(TEXTS[:2]).int8
    raw = np.asarray(client.feature_extraction(TEXTS[0], normalize=False))
    assert raw.shape in ((1, 64), (64,)) and np.array_equal(raw.reshape(-1), local[0].astype(np.float32))
    unit = np.asarray(client.feature_extraction(TEXTS[1], normalize=True, dimensions=32)).reshape(-1)
    expected = local[1, :32].astype(np.float32)
    np.testing.assert_allclose(unit, expected / np.linalg.norm(expected), rtol=1e-6, atol=1e-7)


def test_embed_takes_lists_and_refuses_too_wide_dimensions(hosted_api: Hosted) -> None:
    server, models = hosted_api
    headers = {"Authorization": f"Bearer {API_KEY}"}
    got = httpx.post(server.url + "/embed", json={"inputs": TEXTS, "normalize": False}, headers=headers)
    assert got.status_code == 200
    assert np.array_equal(
        np.asarray(got.json()), make_pplx(models[V1]).embed_queries(TEXTS).int8.astype(float)
    )
    wide = httpx.post(server.url + "/embed", json={"inputs": "x", "dimensions": 65}, headers=headers)
    assert wide.status_code == 422 and wide.json()["error_type"] == "validation_error"
    info = httpx.get(server.url + "/info", headers=headers).json()
    assert (
        info["model_id"] == V1
        and info["model_sha"].startswith("sha256:")
        and info["max_client_batch_size"] > 1
    )


def test_the_tei_backend_gives_the_local_codes_and_fingerprint(hosted_api: Hosted) -> None:
    server, models = hosted_api
    spec = f"tei:{server.url}"
    remote = load_embedder(ModelOptions(doc_model=spec, query_model=spec, tei_token=API_KEY))
    local = make_pplx(models[V1])
    assert np.array_equal(remote.embed_queries(TEXTS).int8, local.embed_queries(TEXTS).int8)
    for got, want in zip(
        remote.embed_documents([DOCUMENT, ["one"]]), local.embed_documents([DOCUMENT, ["one"]]), strict=True
    ):
        assert np.array_equal(got.int8, want.int8)
        clear = want.int8 != 0  # bits: the codes' signs here, x's signs locally; they differ only at 0
        assert np.array_equal(
            np.unpackbits(got.bits, axis=-1)[clear], np.unpackbits(want.bits, axis=-1)[clear]
        )
    folder = load_embedder(ModelOptions(doc_model=str(models[V1]), query_model=str(models[V1])))
    assert remote.fingerprint == folder.fingerprint
    check_compatible("c", CollectionFingerprint(folder.fingerprint), embedder=remote.fingerprint)


def test_the_tei_backend_refuses_contextual_documents_and_says_what_failed(hosted_api: Hosted) -> None:
    server, _ = hosted_api
    spec = f"tei:{server.url}"
    with pytest.raises(ConfigError, match="no contextual endpoint"):
        load_embedder(
            ModelOptions(
                doc_model=spec, query_model=spec, document_mode=DocumentMode.CONTEXTUAL, tei_token=API_KEY
            )
        )
    with pytest.raises(EmbeddingError, match="answered 401"):
        load_embedder(ModelOptions(doc_model=spec, query_model=spec))
    with pytest.raises(EmbeddingError, match="cannot reach the TEI server"):
        load_embedder(ModelOptions(doc_model=f"tei:http://127.0.0.1:{free_port()}", query_model="fake:8"))

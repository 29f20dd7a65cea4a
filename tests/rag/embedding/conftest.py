"""Session fixtures: tiny random pplx-embed checkpoints (v1, context, context with a trailing EOS),
their loaded embedders, and the real offline MiniLM encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from rag.embedding.encoder import EncoderEmbedder
from rag.embedding.factory import ModelOptions, load_embedder
from rag.embedding.pplx import PplxEmbedder
from rag.embedding.torch_pplx import load_checkpoint
from rag.types import DocumentMode
from tests.api.conftest import LiveServer
from tests.rag.embedding.hosted_fixtures import hosted_server
from tests.rag.embedding.tiny_checkpoints import write_pplx_checkpoint


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pplx")
    return {
        "v1": write_pplx_checkpoint(root / "pplx-embed-v1-tiny", contextual=False, seed=1),
        "context": write_pplx_checkpoint(root / "pplx-embed-context-v1-tiny", contextual=True, seed=2),
        "context_eos": write_pplx_checkpoint(
            root / "pplx-embed-context-eos-tiny", contextual=True, seed=2, append_eos=True
        ),
    }


def make_pplx(
    folder: Path,
    *,
    max_length: int = 32768,
    document_mode: DocumentMode = DocumentMode.AUTO,
    dimensions: int | None = None,
    max_batch_tokens: int = 16384,
) -> PplxEmbedder:
    checkpoint = load_checkpoint(folder, device="cpu", dtype=torch.float32, max_length=max_length)
    return PplxEmbedder(
        checkpoint,
        name=folder.name,
        revision="test",
        document_mode=document_mode,
        dimensions=dimensions,
        max_batch_tokens=max_batch_tokens,
    )


@pytest.fixture(scope="session")
def v1(checkpoints: dict[str, Path]) -> PplxEmbedder:
    return make_pplx(checkpoints["v1"])


@pytest.fixture(scope="session")
def context(checkpoints: dict[str, Path]) -> PplxEmbedder:
    return make_pplx(checkpoints["context"])


@pytest.fixture(scope="session")
def minilm() -> EncoderEmbedder:
    """The offline MiniLM through the factory (isolated chunks, its default)."""
    embedder = load_embedder(ModelOptions(doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2"))
    assert isinstance(embedder, EncoderEmbedder)
    return embedder


@pytest.fixture(scope="session")
def late_minilm(minilm_path: Path) -> EncoderEmbedder:
    """The offline MiniLM with late chunking (contextual document mode)."""
    return EncoderEmbedder(
        minilm_path, name="all-minilm-l6-v2", revision="test", document_mode=DocumentMode.CONTEXTUAL
    )


@pytest.fixture(scope="session")
def hosted_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Path]]]:
    """Our own API on loopback (uvicorn), keyed, serving tiny checkpoints under the hosted names: the
    "hosted" side of the api: and tei: backend tests."""
    yield from hosted_server(tmp_path_factory.mktemp("hosted"))

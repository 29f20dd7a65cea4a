"""The ONNX Runtime backend: `rag export-onnx` on the tiny checkpoints, then the same codes as torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from rag.embedding.factory import ModelOptions, load_embedder
from rag.embedding.onnx_export import export_onnx
from rag.embedding.onnx_pplx import load_onnx_checkpoint
from rag.embedding.pplx import PplxEmbedder
from rag.errors import ConfigError, ModelLoadError
from rag.quantization import tanh_int8
from tests.api.conftest import free_port, wait_ready
from tests.conftest import REPO_ROOT
from tests.rag.embedding.conftest import make_pplx
from tests.rag.embedding.test_pplx import DOCUMENT, TEXTS

LONG_DOCUMENT = [f"Section {i} says that window {i % 3} keeps its own context and order." for i in range(9)]


@pytest.fixture(scope="session")
def exported(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """v1 exported to a folder of its own (graph and tokenizer only); the context model exported into
    a copy of its checkpoint folder (the hub layout: safetensors and onnx/ side by side)."""
    root = tmp_path_factory.mktemp("onnx")
    v1 = root / "alone" / checkpoints["v1"].name
    run_rag("export-onnx", str(checkpoints["v1"]), str(v1))
    context = shutil.copytree(checkpoints["context"], root / "hub" / checkpoints["context"].name)
    export_onnx(context, context, name=context.name, revision="test")
    return {"v1": v1, "context": context}


NO_TORCH = str(REPO_ROOT / "tests/rag/embedding/no_torch.py")


def run_rag(*args: str, no_torch: bool = False, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(stdout, stderr) of ``rag ARGS``, which must succeed; ``no_torch``: with torch unimportable."""
    script = [NO_TORCH] if no_torch else ["-m", "ingest"]
    done = subprocess.run(
        [sys.executable, *script, *args],
        cwd=REPO_ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def onnx_pplx(folder: Path, *, max_length: int = 32768, **options: object) -> PplxEmbedder:
    checkpoint = load_onnx_checkpoint(folder, threads=1, max_length=max_length)
    return PplxEmbedder(checkpoint, name=folder.name, revision="test", **options)  # type: ignore[arg-type]


def assert_codes_close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert [x.shape for x in a] == [y.shape for y in b]
    for x, y in zip(a, b, strict=True):
        assert np.abs(x.astype(int) - y.astype(int)).max(initial=0) <= 1


def test_the_graph_has_the_card_layout_and_computes_the_pooled_outputs_inside(
    exported: dict[str, Path],
) -> None:
    session = ort.InferenceSession(
        str(exported["v1"] / "onnx/model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input_ids", "tensor(int64)"),
        ("attention_mask", "tensor(int64)"),
    ]
    names = [o.name for o in session.get_outputs()]
    assert names == ["last_hidden_state", "pooler_output", "pooler_output_int8", "pooler_output_binary"]
    for batch, length in ((1, 1), (3, 37)):  # dynamic axes: neither shape is the traced one (2 x 4)
        ids = np.arange(batch * length, dtype=np.int64).reshape(batch, length) + 100
        mask = np.ones_like(ids)
        mask[-1, length // 2 + 1 :] = 0
        hidden, pooled, codes, signs = session.run(None, {"input_ids": ids, "attention_mask": mask})
        assert hidden.shape == (batch, length, 64) and codes.dtype == np.int8
        weights = mask[..., None].astype(np.float32)
        mean = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        np.testing.assert_allclose(pooled, mean, rtol=1e-5, atol=1e-6)
        assert np.array_equal(codes, tanh_int8(pooled))
        assert np.array_equal(signs, np.where(pooled >= 0, 1.0, -1.0))


def test_bidirectional_attention_survives_the_export(exported: dict[str, Path]) -> None:
    session = ort.InferenceSession(
        str(exported["v1"] / "onnx/model.onnx"), providers=["CPUExecutionProvider"]
    )
    ids = np.array([[300, 301, 302, 303, 304, 305]], dtype=np.int64)
    changed = ids.copy()
    changed[0, -1] += 1
    first = [
        session.run(["last_hidden_state"], {"input_ids": x, "attention_mask": np.ones_like(x)})[0]
        for x in (ids, changed)
    ]
    assert not np.allclose(first[0][0, 0], first[1][0, 0], atol=1e-4)
    # Padding is masked: pad ids after the text change nothing in the real tokens' states.
    padded = np.concatenate([ids, np.full((1, 3), 151643)], axis=1)
    mask = np.concatenate([np.ones_like(ids), np.zeros((1, 3), np.int64)], axis=1)
    state = session.run(["last_hidden_state"], {"input_ids": padded, "attention_mask": mask})[0]
    np.testing.assert_allclose(state[0, :6], first[0][0], rtol=1e-4, atol=1e-5)


def test_queries_give_the_torch_codes(exported: dict[str, Path], v1: PplxEmbedder) -> None:
    onnx = onnx_pplx(exported["v1"])
    torch_rows, onnx_rows = (
        v1.embed_queries(TEXTS, with_floats=True),
        onnx.embed_queries(TEXTS, with_floats=True),
    )
    assert_codes_close([torch_rows.int8], [onnx_rows.int8])
    assert torch_rows.floats is not None and onnx_rows.floats is not None
    clear = np.abs(torch_rows.floats) > 1e-4
    assert np.array_equal((torch_rows.floats >= 0)[clear], (onnx_rows.floats >= 0)[clear])
    # pplx-embed-v1 documents are isolated chunks, through the pooled output too.
    assert_codes_close(
        [e.int8 for e in v1.embed_documents([DOCUMENT])], [e.int8 for e in onnx.embed_documents([DOCUMENT])]
    )


def test_late_chunked_documents_give_the_torch_codes_across_windows(
    exported: dict[str, Path], checkpoints: dict[str, Path]
) -> None:
    documents = [DOCUMENT, LONG_DOCUMENT, ["", "an empty chunk first"]]
    torch_side = make_pplx(checkpoints["context"], max_length=48)
    onnx_side = onnx_pplx(exported["context"], max_length=48)
    assert len(onnx_side._document_sequences(LONG_DOCUMENT)) > 2  # longer than one window
    got, want = onnx_side.embed_documents(documents), torch_side.embed_documents(documents)
    assert_codes_close([e.int8 for e in got], [e.int8 for e in want])
    assert [len(e.int8) for e in got] == [3, 9, 2] and not got[2].int8[0].any()


def test_queries_through_the_context_model_are_one_chunk_documents(
    exported: dict[str, Path], context: PplxEmbedder
) -> None:
    onnx = onnx_pplx(exported["context"])
    queries = onnx.embed_queries(TEXTS[:2])
    assert_codes_close([queries.int8], [context.embed_queries(TEXTS[:2]).int8])
    assert_codes_close(
        [queries.int8], [np.concatenate([e.int8 for e in onnx.embed_documents([[t] for t in TEXTS[:2]])])]
    )


def test_an_onnx_built_collection_has_the_torch_fingerprint(
    exported: dict[str, Path], checkpoints: dict[str, Path]
) -> None:
    for key in ("v1", "context"):
        runs = {
            runtime: load_embedder(
                ModelOptions(doc_model=str(folder), query_model=str(folder), runtime=runtime)
            )
            for runtime, folder in (("torch", checkpoints[key]), ("onnx", exported[key]))
        }
        assert runs["torch"].fingerprint == runs["onnx"].fingerprint
    source = json.loads((exported["v1"] / "onnx/source.json").read_text())
    assert source["name"] == checkpoints["v1"].name and source["revision"].startswith("sha256:")


def test_the_onnx_runtime_refuses_what_it_cannot_run(checkpoints: dict[str, Path], minilm_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="export-onnx"):
        load_embedder(
            ModelOptions(doc_model=str(checkpoints["v1"]), query_model=str(checkpoints["v1"]), runtime="onnx")
        )
    with pytest.raises(ConfigError, match="pplx-embed folders only"):
        load_embedder(ModelOptions(doc_model=str(minilm_path), query_model=str(minilm_path), runtime="onnx"))
    with pytest.raises(ConfigError, match="runtime must be one of"):
        ModelOptions(doc_model="fake:8", query_model="fake:8", runtime="tensorflow")


def test_ingest_search_and_serve_run_without_torch(exported: dict[str, Path], tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "chunking.md").write_text("Late chunking embeds a whole document, then pools every chunk.")
    (docs / "tea.md").write_text("Green tea is steeped for two minutes in water below boiling.")
    folder = str(exported["context"])
    env = {**os.environ, "RAG_RUNTIME": "onnx", "RAG_DATA_DIR": str(tmp_path / "data")}
    env |= {"RAG_DOC_MODEL": folder, "RAG_QUERY_MODEL": folder}
    out, err = run_rag("ingest", str(docs), "--collection", "notes", "--json", no_torch=True, env=env)
    assert "loaded: []" in err and json.loads(out)["added"] == 2
    out, err = run_rag("search", "how long is tea steeped", "-c", "notes", "--json", no_torch=True, env=env)
    assert "loaded: []" in err and "tea.md" in out
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, NO_TORCH, "serve", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        found = httpx.post(f"http://127.0.0.1:{port}/v1/search", json={"query": "tea", "collection": "notes"})
        assert found.status_code == 200 and found.json()["hits"]
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "loaded: []" in log.read_text()

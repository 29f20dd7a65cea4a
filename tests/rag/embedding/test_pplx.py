"""The local pplx-embed backend against an independent reference, on tiny random checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from rag.embedding.pplx import PplxEmbedder
from rag.embedding.torch_pplx import (
    PplxCheckpoint,
    bidirectional_hidden,
    is_context_checkpoint,
    load_checkpoint,
)
from rag.errors import ConfigError, ModelLoadError, SeparatorInChunkError
from rag.types import DocumentMode
from tests.rag.embedding.conftest import make_pplx
from tests.rag.embedding.reference_qwen3 import ReferenceQwen3
from tests.rag.embedding.tiny_checkpoints import ENDOFTEXT, ENDOFTEXT_ID

TEXTS = [
    "What is Deep Learning?",
    "Deep Learning is a subset of machine learning built on neural networks with many layers.",
    "x",
    "Bidirectional attention lets the first token see the last one.",
]
DOCUMENT = [
    "Late chunking embeds a whole document at once.",
    "Each chunk is then pooled over its own tokens.",
    "So every chunk vector carries its neighbours' context.",
]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def ids_of(folder: Path, text: str) -> list[int]:
    return list(Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text).ids)


def assert_matches_reference(got_floats: np.ndarray, got_int8: np.ndarray, reference: torch.Tensor) -> None:
    ref = reference.numpy()
    for row in range(len(ref)):
        if not ref[row].any():
            assert not got_floats[row].any() and not got_int8[row].any()
            continue
        assert cosine(got_floats[row].astype(np.float64), ref[row]) >= 1 - 1e-5
    codes = np.clip(np.rint(np.tanh(ref) * 127), -128, 127)
    assert np.abs(got_int8.astype(int) - codes).max() <= 1
    clear = np.abs(ref) > 1e-4
    assert np.array_equal((got_floats >= 0)[clear], (ref >= 0)[clear])


def _torch_model(embedder: PplxEmbedder) -> Any:
    assert isinstance(embedder.checkpoint, PplxCheckpoint)  # the torch runtime's checkpoint
    return embedder.checkpoint.model


def test_the_loader_reads_the_real_layout(checkpoints: dict[str, Path], v1: PplxEmbedder) -> None:
    assert _torch_model(v1).embed_tokens.weight.shape == (151936, 64)
    assert len(_torch_model(v1).layers) == 2
    assert v1.checkpoint.separator_id == ENDOFTEXT_ID
    assert not v1.checkpoint.contextual and is_context_checkpoint(checkpoints["context"])
    assert all(not layer.self_attn.is_causal for layer in _torch_model(v1).layers)
    assert v1.fingerprint.document_mode == "isolated" and v1.fingerprint.quantization == "tanh-int8"


def test_a_sep_token_alone_marks_a_context_model(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "ctx"
    folder.mkdir()
    config = (checkpoints["context"] / "config.json").read_text().replace("PPLXQwen3ContextualModel", "X")
    (folder / "config.json").write_text(config)
    (folder / "special_tokens_map.json").write_text('{"sep_token": "<|endoftext|>"}')
    assert is_context_checkpoint(folder)
    (folder / "special_tokens_map.json").write_text("{}")
    assert not is_context_checkpoint(folder)


def test_attention_is_bidirectional(v1: PplxEmbedder, checkpoints: dict[str, Path]) -> None:
    ids = ids_of(checkpoints["v1"], "the first token must see the last")
    changed = [*ids[:-1], ids[-1] + 1]
    batch = torch.tensor([ids, changed])
    with torch.inference_mode():
        hidden = bidirectional_hidden(_torch_model(v1), batch, torch.ones_like(batch))
    assert not torch.allclose(hidden[0, 0], hidden[1, 0], atol=1e-4)


def test_pooled_vectors_equal_the_reference(v1: PplxEmbedder, checkpoints: dict[str, Path]) -> None:
    reference = ReferenceQwen3(checkpoints["v1"])
    got = v1.embed_queries(TEXTS, with_floats=True)
    expected = torch.stack([reference.pooled(ids_of(checkpoints["v1"], t)) for t in TEXTS])
    assert got.floats is not None
    assert_matches_reference(got.floats, got.int8, expected)
    assert np.array_equal(got.bits, np.packbits(got.floats >= 0, axis=-1))


def test_padding_and_batching_change_nothing(v1: PplxEmbedder, checkpoints: dict[str, Path]) -> None:
    together = v1.embed_queries(TEXTS, with_floats=True)
    alone = [v1.embed_queries([t], with_floats=True) for t in TEXTS]
    small = make_pplx(checkpoints["v1"], max_batch_tokens=8).embed_queries(TEXTS, with_floats=True)
    for row, single in enumerate(alone):
        assert single.floats is not None and together.floats is not None and small.floats is not None
        np.testing.assert_allclose(together.floats[row], single.floats[0], atol=1e-5)
        np.testing.assert_allclose(small.floats[row], single.floats[0], atol=1e-5)
        assert np.array_equal(together.int8[row], single.int8[0])
        assert np.array_equal(together.bits[row], single.bits[0])


def test_a_one_token_text_works_in_a_padded_batch(v1: PplxEmbedder) -> None:
    together = v1.embed_queries(["x", "a longer text beside it"], with_floats=True)
    alone = v1.embed_queries(["x"], with_floats=True)
    assert together.floats is not None and alone.floats is not None
    np.testing.assert_allclose(together.floats[0], alone.floats[0], atol=1e-5)


def test_contextual_chunks_equal_reference_late_chunking(
    context: PplxEmbedder, checkpoints: dict[str, Path]
) -> None:
    folder = checkpoints["context"]
    [got] = context.embed_documents([DOCUMENT], with_floats=True)
    ids = ids_of(folder, ENDOFTEXT.join(DOCUMENT))
    assert ids.count(ENDOFTEXT_ID) == len(DOCUMENT) - 1
    expected = ReferenceQwen3(folder).late_chunks(ids, ENDOFTEXT_ID, len(DOCUMENT))
    assert got.floats is not None and got.int8.shape == (3, 64)
    assert_matches_reference(got.floats, got.int8, expected)


def test_context_changes_chunk_vectors(context: PplxEmbedder) -> None:
    [together] = context.embed_documents([DOCUMENT], with_floats=True)
    alone = context.embed_queries(DOCUMENT, with_floats=True)
    assert together.floats is not None and alone.floats is not None
    for row in range(len(DOCUMENT)):
        assert cosine(together.floats[row], alone.floats[row]) < 0.999


def test_a_trailing_eos_is_never_pooled(checkpoints: dict[str, Path]) -> None:
    eos = make_pplx(checkpoints["context_eos"])
    assert eos.checkpoint.special_tokens == 1
    [got] = eos.embed_documents([DOCUMENT], with_floats=True)
    ids = ids_of(checkpoints["context_eos"], ENDOFTEXT.join(DOCUMENT))
    assert ids[-1] == ENDOFTEXT_ID
    expected = ReferenceQwen3(checkpoints["context_eos"]).late_chunks(ids, ENDOFTEXT_ID, len(DOCUMENT))
    assert got.floats is not None
    assert_matches_reference(got.floats, got.int8, expected)


def test_isolated_mode_embeds_each_chunk_alone(checkpoints: dict[str, Path], context: PplxEmbedder) -> None:
    isolated = make_pplx(checkpoints["context"], document_mode=DocumentMode.ISOLATED)
    [got] = isolated.embed_documents([DOCUMENT])
    assert np.array_equal(got.int8, context.embed_queries(DOCUMENT).int8)
    assert isolated.fingerprint.document_mode == "isolated"


def test_v1_documents_embed_each_chunk_alone(v1: PplxEmbedder, checkpoints: dict[str, Path]) -> None:
    [got] = v1.embed_documents([DOCUMENT])
    assert np.array_equal(got.int8, v1.embed_queries(DOCUMENT).int8)
    with pytest.raises(ConfigError, match="context model"):
        make_pplx(checkpoints["v1"], document_mode=DocumentMode.CONTEXTUAL)


def test_the_separator_text_in_a_chunk_is_rejected(context: PplxEmbedder) -> None:
    with pytest.raises(SeparatorInChunkError, match="chunk 1"):
        context.embed_documents([["fine", f"not {ENDOFTEXT} fine"]])
    with pytest.raises(SeparatorInChunkError):
        context.embed_queries([f"a{ENDOFTEXT}b"])


def test_an_empty_chunk_gives_a_zero_row(context: PplxEmbedder) -> None:
    [got] = context.embed_documents([["first chunk", "", "last chunk", ""]], with_floats=True)
    assert got.int8.shape == (4, 64)
    assert not got.int8[1].any() and not got.int8[3].any()
    assert got.int8[0].any() and got.int8[2].any()
    assert context.embed_documents([[]])[0].int8.shape == (0, 64)


def test_long_documents_are_windowed_at_chunk_boundaries(checkpoints: dict[str, Path]) -> None:
    small = make_pplx(checkpoints["context"], max_length=24)
    chunks = [f"chunk {i} is about topic {i * 7}" for i in range(7)]
    lengths = [len(ids_of(checkpoints["context"], c)) for c in chunks]
    assert sum(lengths) > 24 and max(lengths) < 12
    [got] = small.embed_documents([chunks], with_floats=True)
    assert got.int8.shape == (7, 64)
    # Rebuild the windows by hand: greedy, chunk plus separator, within 24 tokens.
    windows, current = [], [0]
    for i in range(1, 7):
        cost = sum(lengths[j] for j in current) + len(current) + lengths[i]
        if cost > 24:
            windows.append(current)
            current = [i]
        else:
            current.append(i)
    windows.append(current)
    assert len(windows) > 1
    for window in windows:
        [part] = small.embed_documents([[chunks[i] for i in window]], with_floats=True)
        assert got.floats is not None and part.floats is not None
        np.testing.assert_allclose(got.floats[window], part.floats, atol=1e-5)


def test_a_chunk_longer_than_the_limit_is_truncated_not_lost(checkpoints: dict[str, Path]) -> None:
    small = make_pplx(checkpoints["context"], max_length=8)
    [got] = small.embed_documents([["short", "a chunk that is far longer than eight tokens ever", "end"]])
    assert got.int8.shape == (3, 64) and got.int8.any(axis=1).all()


def test_matryoshka_dimensions_are_a_prefix(checkpoints: dict[str, Path], v1: PplxEmbedder) -> None:
    narrow = make_pplx(checkpoints["v1"], dimensions=32)
    full = v1.embed_queries(TEXTS)
    cut = narrow.embed_queries(TEXTS)
    assert narrow.dimensions == 32 and narrow.fingerprint.dimensions == 32
    assert np.array_equal(cut.int8, full.int8[:, :32])
    assert np.array_equal(cut.bits, full.bits[:, :4])
    with pytest.raises(ConfigError, match="multiple of 8"):
        make_pplx(checkpoints["v1"], dimensions=30)


def test_bfloat16_tracks_float32(checkpoints: dict[str, Path], v1: PplxEmbedder) -> None:
    checkpoint = load_checkpoint(checkpoints["v1"], device="cpu", dtype=torch.bfloat16)
    half = PplxEmbedder(checkpoint, name="v1", revision="test").embed_queries(TEXTS, with_floats=True)
    full = v1.embed_queries(TEXTS, with_floats=True)
    assert half.floats is not None and full.floats is not None
    for row in range(len(TEXTS)):
        assert cosine(half.floats[row], full.floats[row]) > 0.99


def test_a_folder_that_is_not_pplx_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelLoadError, match="not a pplx-embed checkpoint"):
        load_checkpoint(tmp_path, device="cpu", dtype=torch.float32)


def test_missing_weights_are_a_load_error(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    for name in ("config.json", "tokenizer.json", "special_tokens_map.json"):
        (tmp_path / name).write_bytes((checkpoints["v1"] / name).read_bytes())
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_checkpoint(tmp_path, device="cpu", dtype=torch.float32)

"""Token counts: every backend counts what its tokenizer gives and what it feeds the model.

The counts are checked against a tokenizer loaded independently from the same folder, and against
the lengths of the sequences the backend actually hands to its forward pass (recorded by wrapping
``pool_sequences``), so a count that drifts from the real input fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer

import rag.embedding.encoder
import rag.embedding.torch_pplx
from rag.embedding.base import SPECIAL_TOKENS_BOUND, Embedder, PairedEmbedder
from rag.embedding.encoder import EncoderEmbedder
from rag.embedding.fake import HashEmbedder
from rag.embedding.pplx import PplxEmbedder
from rag.types import DocumentMode
from tests.rag.embedding.conftest import make_pplx
from tests.rag.embedding.tiny_checkpoints import ENDOFTEXT

TEXTS = [
    "What is Deep Learning?",
    "Bidirectional attention lets the first token see the last one.",
    "x",
    "naïve café, Tōkyō: 東京 ✓",
]
DOCUMENT = [
    "Late chunking embeds a whole document at once.",
    "Each chunk is then pooled over its own tokens.",
    "So every chunk vector carries its neighbours' context.",
]


def record_fed_lengths(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    """A list that fills with the length of every sequence ``module`` passes to its forward pass."""
    fed: list[int] = []
    original: Callable[..., Any] = module.pool_sequences

    def recording(forward: Any, sequences: Any, **options: Any) -> Any:
        fed.extend(len(sequence.ids) for sequence in sequences)
        return original(forward, sequences, **options)

    monkeypatch.setattr(module, "pool_sequences", recording)
    return fed


def plain_tokenizer(path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def bare_lengths(tokenizer: Tokenizer, texts: list[str]) -> list[int]:
    return [len(tokenizer.encode(text, add_special_tokens=False).ids) for text in texts]


def assert_default_bounds(embedder: Embedder, texts: list[str], documents: list[list[str]]) -> None:
    """The base class's estimates are upper bounds of the backend's exact counts."""
    estimate = Embedder.count_tokens(embedder, texts)
    assert estimate == [len(text.encode("utf-8")) + SPECIAL_TOKENS_BOUND for text in texts]
    assert all(e >= n for e, n in zip(estimate, embedder.count_tokens(texts), strict=True))
    document_estimate = Embedder.count_document_tokens(embedder, documents)
    exact = embedder.count_document_tokens(documents)
    assert all(e >= n for e, n in zip(document_estimate, exact, strict=True))


# pplx-embed (tiny checkpoints with Qwen's real BPE rules)


@pytest.fixture(scope="module")
def context_eos(checkpoints: dict[str, Path]) -> PplxEmbedder:
    """A context model whose tokenizer appends ``<|endoftext|>`` to every text (one special token)."""
    return make_pplx(checkpoints["context_eos"])


@pytest.fixture(scope="module")
def pplx_models(
    v1: PplxEmbedder, context: PplxEmbedder, context_eos: PplxEmbedder
) -> dict[str, PplxEmbedder]:
    return {"v1": v1, "context": context, "context_eos": context_eos}


@pytest.mark.parametrize("name", ["v1", "context", "context_eos"])
def test_pplx_query_counts_are_the_tokenizers_and_what_is_fed(
    name: str,
    pplx_models: dict[str, PplxEmbedder],
    checkpoints: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedder = pplx_models[name]
    tokenizer = plain_tokenizer(checkpoints[name] / "tokenizer.json")
    expected = [len(tokenizer.encode(text).ids) for text in TEXTS]
    assert embedder.count_tokens(TEXTS) == expected
    fed = record_fed_lengths(monkeypatch, rag.embedding.torch_pplx)
    embedder.embed_queries(TEXTS)
    assert fed == expected


def test_pplx_counts_include_the_tokenizers_special_tokens(
    context_eos: PplxEmbedder, v1: PplxEmbedder, checkpoints: dict[str, Path]
) -> None:
    bare = bare_lengths(plain_tokenizer(checkpoints["v1"] / "tokenizer.json"), TEXTS)
    assert v1.count_tokens(TEXTS) == bare  # Qwen's ByteLevel post-processor adds nothing
    assert context_eos.count_tokens(TEXTS) == [n + 1 for n in bare]  # the trailing EOS


@pytest.mark.parametrize(("name", "specials"), [("context", 0), ("context_eos", 1)])
def test_contextual_document_counts_include_the_separators(
    name: str,
    specials: int,
    pplx_models: dict[str, PplxEmbedder],
    checkpoints: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedder = pplx_models[name]
    tokenizer = plain_tokenizer(checkpoints[name] / "tokenizer.json")
    bare = bare_lengths(tokenizer, DOCUMENT)
    documents = [DOCUMENT, DOCUMENT[:1]]
    expected = [sum(bare) + len(DOCUMENT) - 1 + specials, bare[0] + specials]
    assert expected[0] == len(tokenizer.encode(ENDOFTEXT.join(DOCUMENT)).ids)
    assert embedder.count_document_tokens(documents) == expected
    fed = record_fed_lengths(monkeypatch, rag.embedding.torch_pplx)
    embedder.embed_documents(documents)
    assert fed == expected


def test_isolated_document_counts_are_the_chunks_counts(
    v1: PplxEmbedder, checkpoints: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated = make_pplx(checkpoints["context_eos"], document_mode=DocumentMode.ISOLATED)
    for embedder in (v1, isolated):
        expected = sum(embedder.count_tokens(DOCUMENT))
        assert embedder.count_document_tokens([DOCUMENT]) == [expected]
        fed = record_fed_lengths(monkeypatch, rag.embedding.torch_pplx)
        embedder.embed_documents([DOCUMENT])
        assert sum(fed) == expected


def test_pplx_counts_are_not_truncated(checkpoints: dict[str, Path]) -> None:
    """Limits must see what the caller sent, not the prefix a short model window keeps."""
    short = make_pplx(checkpoints["context"], max_length=16)
    tokenizer = plain_tokenizer(checkpoints["context"] / "tokenizer.json")
    text = " ".join(DOCUMENT)
    [count] = short.count_tokens([text])
    assert count == len(tokenizer.encode(text).ids) > 16
    # The document is embedded in windows of 16 tokens but counted whole, separators included.
    [document] = short.count_document_tokens([DOCUMENT])
    assert document == len(tokenizer.encode(ENDOFTEXT.join(DOCUMENT)).ids) > 16


def test_pplx_empty_inputs_count_nothing(v1: PplxEmbedder, context_eos: PplxEmbedder) -> None:
    for embedder in (v1, context_eos):
        assert embedder.count_tokens([]) == []
        assert embedder.count_document_tokens([]) == []
        assert embedder.count_document_tokens([[]]) == [0]


def test_the_default_estimates_bound_the_pplx_counts(context_eos: PplxEmbedder, v1: PplxEmbedder) -> None:
    for embedder in (context_eos, v1):
        assert_default_bounds(embedder, TEXTS, [DOCUMENT, TEXTS])


# Paired and fake embedders


def test_paired_counts_queries_with_the_query_model_and_documents_with_the_document_model(
    v1: PplxEmbedder,
) -> None:
    words = HashEmbedder(v1.dimensions)
    paired = PairedEmbedder(documents=words, queries=v1)
    assert paired.count_tokens(TEXTS) == v1.count_tokens(TEXTS) != words.count_tokens(TEXTS)
    documents = [DOCUMENT]
    assert paired.count_document_tokens(documents) == words.count_document_tokens(documents)
    assert words.count_document_tokens(documents) != v1.count_document_tokens(documents)


@pytest.mark.parametrize("mode", ["contextual", "isolated"])
def test_the_fake_counts_words(mode: str) -> None:
    fake = HashEmbedder(16, document_mode=mode)
    assert fake.count_tokens(["one two, three!", "", "¿qué tal?"]) == [3, 0, 2]
    assert fake.count_document_tokens([["a b", "c"], []]) == [3, 0]


# The mean-pooled encoder (the real MiniLM)


@pytest.fixture(scope="module")
def minilm_tokenizer(minilm_path: Path) -> Tokenizer:
    return plain_tokenizer(minilm_path / "tokenizer.json")


@pytest.mark.model
def test_minilm_query_counts_are_the_tokenizers_and_what_is_fed(
    minilm: EncoderEmbedder, minilm_tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert minilm.count_tokens(["hello world"]) == [4]  # [CLS] hello world [SEP]
    expected = [len(minilm_tokenizer.encode(text).ids) for text in TEXTS]
    assert expected == [n + 2 for n in bare_lengths(minilm_tokenizer, TEXTS)]
    assert minilm.count_tokens(TEXTS) == expected
    fed = record_fed_lengths(monkeypatch, rag.embedding.encoder)
    minilm.embed_queries(TEXTS)
    assert fed == expected


@pytest.mark.model
def test_minilm_counts_are_not_truncated(
    minilm: EncoderEmbedder, minilm_tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "word " * 300
    assert minilm.count_tokens([text]) == [302] == [len(minilm_tokenizer.encode(text).ids)]
    fed = record_fed_lengths(monkeypatch, rag.embedding.encoder)
    minilm.embed_queries([text])
    assert fed == [minilm.max_length] == [256]


@pytest.mark.model
def test_minilm_isolated_document_counts_are_the_chunks_counts(
    minilm: EncoderEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = sum(minilm.count_tokens(DOCUMENT))
    assert minilm.count_document_tokens([DOCUMENT, []]) == [expected, 0]
    fed = record_fed_lengths(monkeypatch, rag.embedding.encoder)
    minilm.embed_documents([DOCUMENT])
    assert sum(fed) == expected


@pytest.mark.model
def test_minilm_late_chunking_counts_special_tokens_once_per_window(
    late_minilm: EncoderEmbedder, minilm_tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_window = sum(bare_lengths(minilm_tokenizer, DOCUMENT)) + 2
    # Five chunks of 150 tokens cannot share one 510-token window: two windows, two [CLS]/[SEP] pairs.
    long_chunks = [" ".join(["word"] * 150)] * 5
    two_windows = 750 + 2 * 2
    assert late_minilm.count_document_tokens([DOCUMENT, long_chunks]) == [one_window, two_windows]
    fed = record_fed_lengths(monkeypatch, rag.embedding.encoder)
    late_minilm.embed_documents([DOCUMENT, long_chunks])
    assert sum(fed) == one_window + two_windows and len(fed) == 3


@pytest.mark.model
def test_the_default_estimates_bound_the_minilm_counts(
    minilm: EncoderEmbedder, late_minilm: EncoderEmbedder
) -> None:
    for embedder in (minilm, late_minilm):
        assert_default_bounds(embedder, TEXTS, [DOCUMENT, TEXTS])

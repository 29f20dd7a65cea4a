"""The mean-pooled encoder backend with the real offline all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding.encoder import EncoderEmbedder
from rag.quantization import cosine_int8

pytestmark = pytest.mark.model

DOCUMENT = [
    "Vaccines train the immune system to recognise a virus.",
    "They contain weakened or inactivated parts of the pathogen.",
    "After vaccination the body remembers how to fight the infection.",
]


def test_related_sentences_score_higher(minilm: EncoderEmbedder) -> None:
    query = minilm.embed_queries(["How do vaccines protect against viruses?"])
    rows = minilm.embed_queries([DOCUMENT[0], "The stock market closed lower on Friday."])
    related, unrelated = cosine_int8(query.int8[0], rows.int8)
    assert related > unrelated + 0.3


def test_vectors_are_normalised_and_scale_is_calibrated(minilm: EncoderEmbedder) -> None:
    got = minilm.embed_queries(DOCUMENT, with_floats=True)
    assert got.floats is not None
    np.testing.assert_allclose(np.linalg.norm(got.floats, axis=1), 1.0, atol=1e-5)
    assert 0.05 < minilm.scale < 1.0
    assert minilm.fingerprint.quantization == f"scaled-int8:{minilm.scale:g}"
    assert minilm.fingerprint.document_mode == "isolated"
    # The calibrated scale uses the int8 range: typical codes are far from 0 and rarely saturate.
    assert np.abs(got.int8).max() > 60 and np.mean(np.abs(got.int8) == 127) < 0.01


def test_isolated_documents_equal_chunks_alone(minilm: EncoderEmbedder) -> None:
    [got] = minilm.embed_documents([DOCUMENT])
    assert np.array_equal(got.int8, minilm.embed_queries(DOCUMENT).int8)


def test_late_chunking_gives_one_contextual_row_per_chunk(
    late_minilm: EncoderEmbedder, minilm: EncoderEmbedder
) -> None:
    docs = late_minilm.embed_documents([DOCUMENT, ["one lone chunk"], []], with_floats=True)
    assert [d.int8.shape for d in docs] == [(3, 384), (1, 384), (0, 384)]
    alone = minilm.embed_queries(DOCUMENT, with_floats=True)
    assert docs[0].floats is not None and alone.floats is not None
    similarity = np.sum(docs[0].floats * alone.floats, axis=1)
    assert np.all(similarity < 0.999) and np.all(similarity > 0.3)
    assert late_minilm.fingerprint.document_mode == "contextual"


def test_late_chunking_windows_long_documents(late_minilm: EncoderEmbedder) -> None:
    chunks = [f"Sentence {i} of a long document about rivers and floods." for i in range(120)]
    [got] = late_minilm.embed_documents([chunks])
    assert got.int8.shape == (120, 384) and got.int8.any(axis=1).all()


def test_the_alias_loads_the_offline_model(minilm: EncoderEmbedder) -> None:
    assert minilm.dimensions == 384 and minilm.fingerprint.doc_model == "all-minilm-l6-v2"
    assert minilm.fingerprint.doc_revision.startswith("sha256:")

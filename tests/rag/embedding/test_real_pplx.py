"""Opt-in: the TEI reference vector of EMBEDDINGS.md section 8, on a real pplx-embed-v1-0.6b checkpoint.

Set ``RAG_PPLX_MODEL_DIR`` to a local folder holding the real perplexity-ai/pplx-embed-v1-0.6b files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rag.embedding.factory import ModelOptions, load_embedder

FIRST_CODES = [
    -67,
    -30,
    0,
    58,
    -29,
    85,
    -14,
    22,
    -77,
    -30,
    36,
    -77,
    65,
    0,
    -30,
    -52,
    -82,
    29,
    -21,
    -37,
    -76,
    -46,
    -8,
    -8,
]
MODEL_DIR = os.environ.get("RAG_PPLX_MODEL_DIR")

pytestmark = pytest.mark.skipif(
    not MODEL_DIR, reason="RAG_PPLX_MODEL_DIR does not name a local pplx-embed-v1-0.6b checkpoint"
)


def test_tei_reference_vector() -> None:
    folder = str(Path(str(MODEL_DIR)))
    embedder = load_embedder(
        ModelOptions(doc_model=folder, query_model=folder, device="cpu", dtype="float32")
    )
    codes = embedder.embed_queries(["What is Deep Learning?"]).int8[0].astype(int)
    assert codes.shape == (1024,)
    assert np.abs(codes[:24] - np.array(FIRST_CODES)).max() <= 1
    assert codes.min() == pytest.approx(-105, abs=1) and codes.max() == pytest.approx(95, abs=1)
    assert float(np.linalg.norm(codes)) == pytest.approx(1347.95, rel=2e-3)
    assert float(np.abs(codes).mean()) == pytest.approx(34.18, rel=2e-3)
    assert abs(int(codes.sum()) + 229) <= 30 and abs(int((codes == 0).sum()) - 16) <= 6
    batch = embedder.embed_queries(["What is Deep Learning?", "Deep Learning is..."]).int8
    assert np.array_equal(batch[0], embedder.embed_queries(["What is Deep Learning?"]).int8[0])

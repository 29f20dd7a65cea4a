"""Scoring kernels: the BLAS pin under concurrency, top-k tie-breaking, rescoring = cosine on the rows."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from rag.quantization import cosine_int8
from rag.store.scoring import exact_cosine, one_blas_thread, rescore_int8, rescore_top_k, top_k


def _numpy_blas_threads() -> list[int]:
    return [i["num_threads"] for i in ThreadpoolController().info() if "numpy" in i["filepath"]]


def test_blas_pin_survives_concurrent_entries_and_restores_the_original() -> None:
    original = _numpy_blas_threads()
    with one_blas_thread():
        assert all(n == 1 for n in _numpy_blas_threads())

        def churn() -> None:
            for _ in range(200):
                with one_blas_thread():
                    pass

        threads = [threading.Thread(target=churn) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(n == 1 for n in _numpy_blas_threads())  # still inside the outer entry
    assert _numpy_blas_threads() == original


def test_top_k_breaks_ties_by_the_smaller_id() -> None:
    ids = np.array([9, 3, 7, 1, 5], dtype=np.int64)
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1], dtype=np.float32)
    assert top_k(ids, scores, 3) == [(3, 0.8999999761581421), (1, 0.5), (7, 0.5)]
    assert [i for i, _ in top_k(ids, scores, 10)] == [3, 1, 7, 9, 5]
    assert top_k(ids[:0], scores[:0], 3) == []


def test_rescoring_and_exact_scans_equal_cosine_on_the_gathered_rows() -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(-127, 128, (200, 64), dtype=np.int8)
    query = rng.integers(-127, 128, 64, dtype=np.int8)
    picked = np.array([150, 3, 77, 3, 199], dtype=np.int64)
    expected = cosine_int8(query, rows[picked])
    np.testing.assert_allclose(rescore_int8(query, rows, picked), expected, rtol=1e-6)
    np.testing.assert_allclose(exact_cosine(query, rows, picked), expected, rtol=1e-5)
    id_to_row = np.arange(200, dtype=np.int64)[::-1].copy()  # chunk id i lives in row 199 - i
    best = rescore_top_k(query, rows, id_to_row, np.arange(200, dtype=np.int64), 5)
    truth = cosine_int8(query, rows[id_to_row])
    assert [i for i, _ in best] == list(np.argsort(-truth, kind="stable")[:5])


def test_rescoring_kernel_gives_numpys_float32_bits_at_every_width(tmp_path: Path) -> None:
    """rag._int8 reads rows in place (a memmap too) and must give cosine_int8's exact float32 scores:
    the int8 extremes, a zero row (scores 0), repeats and every width up to the pplx models' 1024."""
    rng = np.random.default_rng(1)
    for d in (1, 8, 63, 384, 1024):
        rows = rng.integers(-128, 128, (300, d), dtype=np.int8)
        rows[7] = 0
        rows[8] = -128
        query = rng.integers(-128, 128, d, dtype=np.int8)
        picked = np.array([7, 8, 299, 0, 8, *rng.integers(0, 300, 50)], dtype=np.int64)
        np.testing.assert_array_equal(rescore_int8(query, rows, picked), cosine_int8(query, rows[picked]))
        assert rescore_int8(query, rows, picked)[0] == 0.0
    path = tmp_path / "rows.int8"
    rows.tofile(path)
    mapped = np.memmap(path, dtype=np.int8, mode="r", shape=rows.shape)
    np.testing.assert_array_equal(rescore_int8(query, mapped, picked), cosine_int8(query, rows[picked]))
    assert rescore_int8(query, mapped, picked[:0]).shape == (0,)


def test_rescoring_kernel_refuses_rows_outside_the_matrix() -> None:
    rows = np.zeros((10, 16), np.int8)
    query = np.ones(16, np.int8)
    for bad in (10, -1):
        with pytest.raises(ValueError, match="outside"):
            rescore_int8(query, rows, np.array([0, bad], dtype=np.int64))

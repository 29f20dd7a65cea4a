"""BinaryIndex: Hamming search against numpy, stable ids, id selectors, IVF, serialization."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import CorruptStoreError, InvalidInputError
from rag.index import BinaryIndex, FloatFlatIndex, hamming_top_k
from rag.quantization import hamming_distances

D = 128


def _codes(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, D // 8), dtype=np.uint8)


def _check_against_numpy(
    index: BinaryIndex, codes: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int
) -> None:
    found, distances = index.search(query, k)
    truth = hamming_distances(query, codes)
    assert list(distances) == sorted(truth)[:k]
    by_id = dict(zip(ids.tolist(), truth.tolist(), strict=True))
    assert [by_id[i] for i in found.tolist()] == list(distances)


def test_flat_search_matches_numpy_hamming() -> None:
    codes = _codes(500)
    ids = np.arange(1000, 1500, dtype=np.int64)
    index = BinaryIndex.build(D, ids, codes)
    for query in _codes(10, seed=1):
        _check_against_numpy(index, codes, ids, query, 25)


def test_removal_never_shifts_ids() -> None:
    codes = _codes(300)
    ids = np.arange(300, dtype=np.int64) * 3 + 7
    index = BinaryIndex.build(D, ids, codes)
    gone = ids[::2]
    assert index.remove(gone) == len(gone)
    assert index.remove(gone) == 0
    keep = np.ones(300, bool)
    keep[::2] = False
    for query in _codes(5, seed=2):
        _check_against_numpy(index, codes[keep], ids[keep], query, 20)
    found, _ = index.search(codes[1], 1)
    assert found.tolist() == [ids[1]]  # an exact copy of a kept row is found under its own id


def test_selector_restricts_the_search_to_allowed_ids() -> None:
    codes = _codes(400)
    ids = np.arange(400, dtype=np.int64)
    index = BinaryIndex.build(D, ids, codes)
    allowed = np.array([5, 17, 230, 399], dtype=np.int64)
    found, _ = index.search(codes[0], 10, allowed=allowed)
    assert sorted(found.tolist()) == allowed.tolist()
    assert index.search(codes[0], 10, allowed=np.empty(0, np.int64))[0].size == 0


def test_ivf_trains_when_large_enough_and_supports_removal() -> None:
    codes = _codes(400)
    ids = np.arange(400, dtype=np.int64)
    small = BinaryIndex.build(D, ids, codes, kind="ivf", nlist=64)
    assert small.kind == "flat"  # 400 codes are too few for 64 lists
    ivf = BinaryIndex.build(D, ids, codes, kind="ivf", nlist=4, nprobe=4)
    assert ivf.kind == "ivf" and ivf.supports_selector
    for query in _codes(5, seed=3):
        _check_against_numpy(ivf, codes, ids, query, 10)  # nprobe = nlist: exhaustive
    assert ivf.remove(np.array([0, 1], dtype=np.int64)) == 2
    assert len(ivf) == 398
    allowed = np.arange(2, 400, 3, dtype=np.int64)  # filters run inside the probed lists (nprobe = nlist)
    found, distances = ivf.search(codes[0], 5, allowed=allowed)
    expected = sorted(
        zip(hamming_distances(codes[0], codes[allowed]).tolist(), allowed.tolist(), strict=True)
    )[:5]
    assert list(zip(distances.tolist(), found.tolist(), strict=True)) == expected


def test_hamming_top_k_on_a_subset() -> None:
    codes = _codes(50)
    ids = np.arange(50, dtype=np.int64) + 100
    found, distances = hamming_top_k(codes[3], codes, ids, 5)
    assert found[0] == 103 and distances[0] == 0
    assert list(distances) == sorted(hamming_distances(codes[3], codes))[:5]


def test_serialization_round_trip_and_corruption() -> None:
    codes = _codes(100)
    ids = np.arange(100, dtype=np.int64) + 10
    index = BinaryIndex.build(D, ids, codes)
    copy = BinaryIndex.from_bytes(index.to_bytes(), kind="flat", nlist=1, nprobe=1)
    assert len(copy) == 100
    assert copy.search(codes[7], 3)[0].tolist() == index.search(codes[7], 3)[0].tolist()
    with pytest.raises(CorruptStoreError):
        BinaryIndex.from_bytes(index.to_bytes()[:50], kind="flat", nlist=1, nprobe=1)


def test_invalid_arguments() -> None:
    with pytest.raises(InvalidInputError, match="index type"):
        BinaryIndex(D, kind="hnsw")
    with pytest.raises(InvalidInputError, match="multiple of 8"):
        BinaryIndex(12)
    assert BinaryIndex(D).search(_codes(1)[0], 5)[0].size == 0


def test_float_flat_baseline() -> None:
    vectors = np.random.default_rng(0).standard_normal((50, 16)).astype(np.float32)
    baseline = FloatFlatIndex(vectors)
    assert baseline.search(vectors[9], 1).tolist() == [int(np.argmax(vectors @ vectors[9]))]
    assert baseline.memory_bytes() == 50 * 16 * 4

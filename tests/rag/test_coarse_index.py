"""The indexed coarse stage: the auto kind's size rule, recall on structured codes, filters inside the IVF
probe, removal without id shifts, snapshot round trip of the calibrated index."""

from __future__ import annotations

from typing import Any

import numpy as np

from rag import coarse_index
from rag.index import BinaryIndex
from rag.quantization import hamming_distances, sign_bits

D = 256


def _clustered(n: int, seed: int = 0, centres: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a gaussian mixture (structure an index can exploit) and a few queries from it."""
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, D)).astype(np.float32)
    points = middle[rng.integers(centres, size=n + 20)] + rng.standard_normal((n + 20, D)) * 0.9
    codes = sign_bits(points.astype(np.float32))
    return codes[:n], codes[n:]


def _oracle(query: np.ndarray, codes: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, int]]:
    """(distance, id) of the exact top k, ties by the smaller id."""
    return sorted(zip(hamming_distances(query, codes).tolist(), ids.tolist(), strict=True))[:k]


def test_auto_kind_switches_at_the_threshold() -> None:
    codes, _ = _clustered(3000)
    ids = np.arange(3000, dtype=np.int64)
    assert BinaryIndex.build(D, ids, codes, kind="auto", auto_min_chunks=3001).kind == "flat"
    index = BinaryIndex.build(D, ids, codes, kind="auto", auto_min_chunks=3000)
    assert index.kind == "ivf" and index.nlist == coarse_index.auto_nlist(3000)
    assert 1 <= index.nprobe <= index.nlist
    flat = BinaryIndex.build(D, ids[:100], codes[:100], kind="auto", auto_min_chunks=150)
    assert not flat.due_for_training(149) and flat.due_for_training(150)


def test_auto_ivf_recall_on_structured_codes() -> None:
    codes, queries = _clustered(6000, seed=1)
    ids = np.arange(6000, dtype=np.int64) * 2 + 1
    index = BinaryIndex.build(D, ids, codes, kind="auto", auto_min_chunks=1000, recall_target=0.95)
    assert index.kind == "ivf" and index.nprobe < index.nlist  # calibration found a partial probe
    recalls = []
    for query in queries:
        found, _ = index.search(query, 100)
        bound = _oracle(query, codes, ids, 100)[-1][0]
        recalls.append(float(np.mean(hamming_distances(query, codes[(found - 1) // 2]) <= bound)))
    assert np.mean(recalls) >= 0.85


def test_filters_run_inside_the_probe_and_match_the_oracle_when_exhaustive() -> None:
    codes, queries = _clustered(2000, seed=2)
    ids = np.arange(2000, dtype=np.int64) + 500
    index = BinaryIndex.build(D, ids, codes, kind="auto", auto_min_chunks=1000, recall_target=1.0)
    assert index.kind == "ivf" and index.nprobe == index.nlist  # target 1.0: every list
    allowed = ids[::3]
    assert not index.prefers_subset_scan(len(allowed), 1)  # a wide filter: probe, not scan
    for query in queries[:5]:
        found, distances = index.search(query, 10, allowed=allowed)
        expected = _oracle(query, codes[::3], allowed, 10)
        assert list(zip(distances.tolist(), found.tolist(), strict=True)) == expected
        partial, _ = index.search(query, 10, allowed=allowed, nprobe=2)
        assert set(partial.tolist()) <= set(allowed.tolist())  # a partial probe still only allowed ids
    assert index.prefers_subset_scan(5, 1)  # a tiny filter: the caller scans the subset exactly


def test_ivf_removal_keeps_ids_and_round_trips_with_its_calibration() -> None:
    codes, queries = _clustered(2000, seed=3)
    ids = np.arange(2000, dtype=np.int64) * 5
    index = BinaryIndex.build(D, ids, codes, kind="auto", auto_min_chunks=1000, recall_target=0.9)
    gone = ids[:1000:2]
    assert index.remove(gone) == len(gone)
    found, _ = index.search(codes[1], 1)
    assert found.tolist() == [ids[1]]  # an exact copy of a kept code, under its own id
    assert not set(index.search(queries[0], 200, nprobe=index.nlist)[0].tolist()) & set(gone.tolist())
    copy = BinaryIndex.from_bytes(index.to_bytes(), kind="auto", nlist=1024, nprobe=0)
    assert (copy.kind, copy.nlist, copy.nprobe, len(copy)) == ("ivf", index.nlist, index.nprobe, 1500)
    for query in queries[:3]:
        assert copy.search(query, 20)[0].tolist() == index.search(query, 20)[0].tolist()


def _probe_oracle(
    ivf: Any,
    codes: np.ndarray,
    ids: np.ndarray,
    query: np.ndarray,
    allowed: np.ndarray,
    nprobe: int,
    k: int,
) -> list[tuple[int, int]]:
    """(distance, id) of the exact top k among the allowed codes of the ``nprobe`` lists nearest the query:
    list membership from the quantizer's nearest centroid of every code, distances from numpy."""
    quantizer = ivf.quantizer
    _, home = quantizer.search(codes, 1)
    _, probed = quantizer.search(query.reshape(1, -1), nprobe)
    inside = np.isin(home[:, 0], probed[0]) & np.isin(ids, allowed)
    return _oracle(query, codes[inside], ids[inside], k)


def test_filtered_probe_matches_the_numpy_oracle_inside_the_probed_lists() -> None:
    codes, queries = _clustered(3000, seed=4)
    codes[1500:1600] = codes[1400:1500]  # exact duplicates: ties broken by the smaller id
    ids = np.arange(3000, dtype=np.int64) * 3 + 2
    ivf = coarse_index.train_ivf(codes, D, 16)
    ivf.add_with_ids(codes, ids)
    rng = np.random.default_rng(5)
    for query in [*queries[:4], codes[1450]]:
        distances_to_query = hamming_distances(query, codes)
        far = ids[distances_to_query > np.quantile(distances_to_query, 0.7)]  # the first fetch finds few
        for allowed, nprobe in [
            (np.sort(rng.choice(ids, 1500, replace=False)), 3),
            (ids[::7], 2),
            (far, 4),
            (np.concatenate([ids[:200], [10**9]]), 16),  # an id the index never held is ignored
        ]:
            found, distances = coarse_index.filtered_search(ivf, query, 20, allowed, nprobe)
            expected = _probe_oracle(ivf, codes, ids, query, allowed, nprobe, 20)
            assert list(zip(distances.tolist(), found.tolist(), strict=True)) == expected


def test_filtered_probe_refetches_when_ties_reach_past_what_it_fetched() -> None:
    codes, _ = _clustered(2000, seed=6)
    codes[:400] = codes[0]  # 400 copies at distance 0 from the query, added in decreasing id order
    ids = np.arange(2000, dtype=np.int64)[::-1].copy()
    ivf = coarse_index.train_ivf(codes, D, 16)
    ivf.add_with_ids(codes, ids)
    allowed = ids[::2]
    found, distances = coarse_index.filtered_search(ivf, codes[0], 20, allowed, 1)
    expected = _probe_oracle(ivf, codes, ids, codes[0], allowed, 1, 20)
    assert list(zip(distances.tolist(), found.tolist(), strict=True)) == expected

"""The exact Hamming scan (rag.hamming, rag.flat_codes, rag.scan_batcher) against a numpy oracle."""

from __future__ import annotations

import threading
import time
from typing import Any

import faiss
import numpy as np
import pytest

from rag import _hamming, flat_codes, hamming
from rag.index import BinaryIndex, hamming_top_k
from rag.scan_batcher import ScanBatcher


def _oracle(codes: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """Top-k (ids, distances) by distance, then id: popcounts in numpy, one full sort."""
    distances = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
    order = np.lexsort((ids, distances))[:k]
    return ids[order].tolist(), distances[order].tolist()


def _codes(n: int, code_bytes: int, seed: int, values: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, values, (n, code_bytes), dtype=np.uint8)


@pytest.fixture(params=hamming.kernel_variants())
def kernel(request: pytest.FixtureRequest) -> Any:
    """Each distance kernel this CPU runs (AVX2, POPCNT, portable), switched in for one test."""
    chosen = hamming.kernel_variant()
    _hamming.use_variant(request.param)
    yield request.param
    _hamming.use_variant(chosen)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few rows (37 at 1024 bits: two groups of 16 and a tail), so that small tests cross many
    chunks and run each kernel's tail."""
    monkeypatch.setattr(hamming, "CHUNK_BYTES", 37 * 128)


@pytest.mark.parametrize("code_bytes", [1, 3, 8, 16, 48, 64, 128, 256])
@pytest.mark.parametrize("k", [1, 10, 150, 5000])
def test_scan_matches_the_oracle_for_one_and_many_queries(
    kernel: str, small_chunks: None, code_bytes: int, k: int
) -> None:
    codes = _codes(600, code_bytes, seed=code_bytes)
    queries = _codes(5, code_bytes, seed=99)
    slots = np.arange(len(codes))
    batched = hamming.scan_top_k(codes, queries, k)
    for query, (found, distances) in zip(queries, batched, strict=True):
        assert (found.tolist(), distances.tolist()) == _oracle(codes, slots, query, k)
        single = hamming.scan_top_k(codes, query, k)[0]
        assert single[0].tolist() == found.tolist() and single[1].tolist() == distances.tolist()


@pytest.mark.parametrize("parts", [2, 3, 7, 1000])
def test_a_scan_split_into_ranges_merges_to_the_same_answer(parts: int) -> None:
    """Ranges scanned on several threads, each with its own selection, merge exactly: ties (few distinct
    codes), per-query masks, a mask shared by every query, more parts than rows."""
    codes = _codes(700, 128, seed=5, values=2)
    queries = _codes(6, 128, seed=6, values=2)
    rng = np.random.default_rng(7)
    own = [rng.random(700) < 0.6 for _ in range(5)] + [None]
    shared = rng.random(700) < 0.3
    slots = np.arange(700)
    for masks in (None, own, [shared] * 6):
        split = hamming.scan_top_k(codes, queries, 40, masks, parts=parts)
        for i, (found, distances) in enumerate(split):
            mask = None if masks is None else masks[i]
            allowed = slots if mask is None else slots[mask]
            assert (found.tolist(), distances.tolist()) == _oracle(codes[allowed], allowed, queries[i], 40)


def test_ties_are_broken_by_the_smaller_slot(kernel: str, small_chunks: None) -> None:
    codes = _codes(500, 1, seed=3, values=4)  # 2 bits of 8 vary: hundreds of rows at each distance
    query = np.zeros(1, np.uint8)
    found, distances = hamming.scan_top_k(codes, query, 120)[0]
    assert (found.tolist(), distances.tolist()) == _oracle(codes, np.arange(500), query, 120)
    assert len(set(distances.tolist())) < len(found)  # the case did have ties


def test_thousands_of_rows_tied_at_the_bound_grow_the_selection_and_stay_exact() -> None:
    """k 10 among 20k rows at three distances: each tightening leaves thousands tied at the k-th."""
    codes = _codes(20_000, 1, seed=30, values=4)
    for query in (np.zeros(1, np.uint8), np.full(1, 3, np.uint8)):
        found, distances = hamming.scan_top_k(codes, query, 10)[0]
        assert (found.tolist(), distances.tolist()) == _oracle(codes, np.arange(20_000), query, 10)
        assert found.tolist() == sorted(found.tolist())  # all tied: the smallest slots


def test_masks_restrict_each_query_to_its_rows(kernel: str, small_chunks: None) -> None:
    codes = _codes(400, 16, seed=5)
    queries = _codes(4, 16, seed=6)
    rng = np.random.default_rng(7)
    masks = [None, rng.random(400) < 0.5, np.zeros(400, bool), rng.random(400) < 0.02]
    for query, mask, (found, distances) in zip(
        queries, masks, hamming.scan_top_k(codes, queries, 30, masks), strict=True
    ):
        rows = np.arange(400) if mask is None else np.flatnonzero(mask)
        assert (found.tolist(), distances.tolist()) == _oracle(codes[rows], rows, query, 30)
        if mask is not None:
            single = hamming.scan_top_k(codes, query, 30, [mask])[0]
            assert single[0].tolist() == found.tolist()


@pytest.mark.parametrize("nq", [5, 8, 33])
@pytest.mark.parametrize("chunk_bytes", [37 * 128, hamming.CHUNK_BYTES])
def test_batches_at_1024_bits_with_masks_match_the_oracle(
    kernel: str, monkeypatch: pytest.MonkeyPatch, nq: int, chunk_bytes: int
) -> None:
    """The fused AVX-512 path (bound tested on 16 distances at once): batches of several sizes, per-query
    masks (none, half, none allowed, a few), rows tied at the bound, chunks with and without a tail."""
    monkeypatch.setattr(hamming, "CHUNK_BYTES", chunk_bytes)
    n = 3001
    codes = _codes(n, 128, seed=40 + nq)
    codes[::7, 16:] = 0  # many rows alike past the first 16 bytes: ties at the bound
    queries = _codes(nq, 128, seed=41)
    queries[1::3, 16:] = 0
    rng = np.random.default_rng(42)
    half = rng.random(n) < 0.5
    kinds: list[np.ndarray | None] = [None, half, np.zeros(n, bool), rng.random(n) < 0.01]
    masks = [kinds[i % len(kinds)] for i in range(nq)]
    for k in (1, 10, 200):
        batched = hamming.scan_top_k(codes, queries, k, masks)
        for query, mask, (found, distances) in zip(queries, masks, batched, strict=True):
            rows = np.arange(n) if mask is None else np.flatnonzero(mask)
            assert (found.tolist(), distances.tolist()) == _oracle(codes[rows], rows, query, k)
        shared = hamming.scan_top_k(codes, queries, k, [half] * nq)
        rows = np.flatnonzero(half)
        for query, (found, distances) in zip(queries, shared, strict=True):
            assert (found.tolist(), distances.tolist()) == _oracle(codes[rows], rows, query, k)


def test_one_mask_shared_by_every_query(small_chunks: None) -> None:
    codes, queries = _codes(500, 8, seed=22), _codes(3, 8, seed=23)
    live = np.random.default_rng(24).random(500) < 0.7
    rows = np.flatnonzero(live)
    for query, (found, distances) in zip(
        queries, hamming.scan_top_k(codes, queries, 25, [live] * 3), strict=True
    ):
        assert (found.tolist(), distances.tolist()) == _oracle(codes[rows], rows, query, 25)


def test_views_of_one_mask_are_packed_once_and_other_masks_apart(small_chunks: None) -> None:
    codes, queries = _codes(500, 8, seed=25), _codes(3, 8, seed=26)
    flags = np.random.default_rng(27).random(600) < 0.6
    views = [flags[:500], flags[:550], flags[:]]  # what each search of one index brings: its own view
    assert hamming._packed_masks(views, 3, 500)[1] == 0
    rows = np.flatnonzero(flags[:500])
    for query, (found, distances) in zip(queries, hamming.scan_top_k(codes, queries, 25, views), strict=True):
        assert (found.tolist(), distances.tolist()) == _oracle(codes[rows], rows, query, 25)
    shifted = [flags[:500], flags[1:501], flags[:500]]  # same buffer, another first element: not shared
    assert hamming._packed_masks(shifted, 3, 500)[1] == 500
    for i, (query, (found, distances)) in enumerate(
        zip(queries, hamming.scan_top_k(codes, queries, 25, shifted), strict=True)
    ):
        own = np.flatnonzero(shifted[i][:500])
        assert (found.tolist(), distances.tolist()) == _oracle(codes[own], own, query, 25)


@pytest.mark.parametrize("code_bytes", [1, 5, 8, 32, 96, 128, 130, 256, 4096, 4160])
def test_the_kernel_agrees_with_numpy_popcounts(kernel: str, code_bytes: int) -> None:
    codes, queries = _codes(301, code_bytes, seed=8), _codes(3, code_bytes, seed=9)
    codes[:2] = 255  # every bit set, and a row equal to the query: the extremes of each count
    codes[2] = queries[0]
    expected = np.stack([np.unpackbits(codes ^ q, axis=1).sum(axis=1) for q in queries])
    assert (hamming.distances(queries, codes) == expected).all()
    # the scan's own kernel too (4096 bytes: the widest the AVX-512 one sums in 16-bit fields)
    slots = np.arange(len(codes))
    for k in (40, 301):  # 301: every row, the all-ones ones included
        for query, (found, distances) in zip(queries, hamming.scan_top_k(codes, queries, k), strict=True):
            assert (found.tolist(), distances.tolist()) == _oracle(codes, slots, query, k)
    assert hamming.scan_top_k(codes[:0], queries[0], 5)[0][0].size == 0
    assert hamming.scan_top_k(codes, queries[0], 0)[0][0].size == 0
    assert hamming.kernel_variant() == kernel


def test_an_unknown_kernel_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="no Hamming kernel variant avx9"):
        _hamming.use_variant("avx9")


def test_the_kernel_refuses_buffers_smaller_than_the_call_says() -> None:
    codes, query = _codes(10, 16, seed=31), _codes(1, 16, seed=32)
    out = np.empty((1, 5), np.int64), np.empty((1, 5), np.int32), np.empty(1, np.int64)
    with pytest.raises(ValueError, match="codes holds 160 bytes"):
        _hamming.top_k(codes, 11, 16, query, 1, 5, None, 0, 16, *out)
    with pytest.raises(ValueError, match="out_slots"):
        _hamming.top_k(codes, 10, 16, query, 1, 6, None, 0, 16, *out)
    with pytest.raises(ValueError, match="mask"):
        _hamming.top_k(codes, 10, 16, query, 1, 5, np.ones(9, np.uint8), 0, 16, *out)
    for chunk_rows in (0, hamming.MAX_CHUNK_ROWS + 1):
        with pytest.raises(ValueError, match="chunk_rows"):
            _hamming.top_k(codes, 10, 16, query, 1, 5, None, 0, chunk_rows, *out)


def test_index_filters_removals_and_ties_match_the_oracle(small_chunks: None) -> None:
    codes = _codes(3000, 2, seed=10, values=16)  # 8 varying bits: many ties
    ids = np.arange(3000, dtype=np.int64) * 5 + 11
    index = BinaryIndex.build(16, ids, codes)
    gone = ids[::3]
    assert index.remove(gone) == len(gone) and index.remove(gone) == 0
    alive = np.ones(3000, bool)
    alive[::3] = False
    rng = np.random.default_rng(11)
    wide = np.sort(rng.choice(ids, 1500, replace=False))  # masked inside the scan
    narrow = np.sort(rng.choice(ids, 60, replace=False))  # gathered: fewer than 1/16 of the rows
    for query in _codes(3, 2, seed=12):
        for allowed in (None, wide, narrow):
            keep = alive if allowed is None else alive & np.isin(ids, allowed)
            for k in (7, 400, 4000):
                found, distances = index.search(query, k, allowed=allowed)
                assert (found.tolist(), distances.tolist()) == _oracle(codes[keep], ids[keep], query, k)


def test_out_of_order_adds_and_compaction_keep_ids(small_chunks: None) -> None:
    codes = _codes(4000, 16, seed=13)
    ids = np.random.default_rng(14).permutation(4000).astype(np.int64) + 100
    index = BinaryIndex(128)
    for start in range(0, 4000, 700):  # batches in no particular id order: the index re-sorts
        index.add(ids[start : start + 700], codes[start : start + 700])
    removed = ids[:2500]  # more than a quarter: dead slots are squeezed out
    assert index.remove(removed) == 2500
    assert len(index) == 1500 and index.memory_bytes() > 0
    for query in _codes(3, 16, seed=15):
        found, distances = index.search(query, 50)
        assert (found.tolist(), distances.tolist()) == _oracle(codes[2500:], ids[2500:], query, 50)
    copy = BinaryIndex.from_bytes(index.to_bytes(), kind="flat", nlist=1, nprobe=1)
    query = _codes(1, 16, seed=16)[0]
    assert [a.tolist() for a in copy.search(query, 99)] == [a.tolist() for a in index.search(query, 99)]


def test_a_snapshot_of_the_faiss_flat_index_loads() -> None:
    """Snapshots written before the scan hold a FAISS IndexBinaryIDMap(IndexBinaryFlat): they still load."""
    codes = _codes(200, 16, seed=17)
    ids = np.arange(200, dtype=np.int64) * 2
    old: Any = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(128))
    old.add_with_ids(codes, ids)
    old.remove_ids(ids[:10])
    index = BinaryIndex.from_bytes(
        np.asarray(faiss.serialize_index_binary(old)), kind="flat", nlist=1, nprobe=1
    )
    assert len(index) == 190
    query = codes[50]
    found, distances = index.search(query, 15)
    assert (found.tolist(), distances.tolist()) == _oracle(codes[10:], ids[10:], query, 15)


def test_hamming_top_k_on_a_subset_orders_ties_by_id() -> None:
    codes = _codes(300, 1, seed=18, values=4)
    ids = np.random.default_rng(19).permutation(300).astype(np.int64)
    found, distances = hamming_top_k(np.zeros(1, np.uint8), codes, ids, 40)
    assert (found.tolist(), distances.tolist()) == _oracle(codes, ids, np.zeros(1, np.uint8), 40)


@pytest.mark.parametrize("split", [False, True])
def test_concurrent_searches_share_one_scan_and_answer_as_alone(
    monkeypatch: pytest.MonkeyPatch, split: bool
) -> None:
    """Batched scans answer each query as it would be answered alone, whole or split across threads."""
    if split:
        monkeypatch.setattr(flat_codes, "SPLIT_MIN_WORK", 0)
        monkeypatch.setattr(flat_codes, "usable_cpus", lambda: 3)
    codes = _codes(20_000, 128, seed=20)
    ids = np.arange(20_000, dtype=np.int64)
    index = BinaryIndex.build(1024, ids, codes)
    queries = _codes(12, 128, seed=21)
    alone = [index.search(q, 10 + i) for i, q in enumerate(queries)]
    stats = index.scan_stats
    assert stats is not None
    before = stats.batches
    _hold_the_first_scan_until_others_queue(monkeypatch, index, len(queries) - 1)
    results: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(queries)
    start = threading.Barrier(len(queries))

    def search(i: int) -> None:
        start.wait()
        for _ in range(5):
            results[i] = index.search(queries[i], 10 + i)

    threads = [threading.Thread(target=search, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, result in enumerate(results):
        assert result is not None
        assert result[0].tolist() == alone[i][0].tolist() and result[1].tolist() == alone[i][1].tolist()
    assert stats.queries - len(queries) >= 5 * len(queries) - 1
    assert stats.batches - before < 5 * len(queries)  # some scans answered several queries


def _hold_the_first_scan_until_others_queue(
    monkeypatch: pytest.MonkeyPatch, index: BinaryIndex, waiting: int
) -> None:
    """The first scan waits (up to 5 s) until ``waiting`` searches queue behind it: a scan of 20k codes
    takes ~0.1 ms, too short for threads to meet by chance."""
    batcher: Any = index._flat.batcher  # type: ignore[union-attr]
    scan = hamming.scan_top_k
    first = threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 5
            while len(batcher._pending) < waiting and time.monotonic() < deadline:
                time.sleep(0.001)
        return scan(*args, **kwargs)

    monkeypatch.setattr(flat_codes, "scan_top_k", held)


def test_the_batcher_runs_what_waits_as_one_batch_and_passes_errors() -> None:
    entered, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def run(requests: list[int]) -> list[int]:
        batches.append(list(requests))
        if len(batches) == 1:
            entered.set()
            release.wait(5)
        if -1 in requests:
            raise ValueError("bad request")
        return [r * 10 for r in requests]

    batcher: ScanBatcher[int, int] = ScanBatcher(run, parallel=1)
    answers: dict[int, int | str] = {}

    def submit(value: int) -> None:
        try:
            answers[value] = batcher.submit(value)
        except ValueError as exc:
            answers[value] = str(exc)

    first = threading.Thread(target=submit, args=(1,))
    first.start()
    assert entered.wait(5)
    waiting = [threading.Thread(target=submit, args=(v,)) for v in (2, 3, -1)]
    for t in waiting:
        t.start()
    while len(batcher._pending) < 3:  # all three queued behind the running scan
        threading.Event().wait(0.001)
    release.set()
    for t in [first, *waiting]:
        t.join(5)
    assert batches[0] == [1] and sorted(batches[1]) == [-1, 2, 3]
    assert answers == {1: 10, 2: "bad request", 3: "bad request", -1: "bad request"}
    assert batcher.stats.batches == 2 and batcher.stats.queries == 4 and batcher.stats.largest == 3


def test_a_batch_limit_of_one_scans_each_query_at_once_beside_the_others() -> None:
    entered, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def run(requests: list[int]) -> list[int]:
        batches.append(list(requests))
        if requests == [1]:
            entered.set()
            release.wait(5)
        return [r * 10 for r in requests]

    batcher: ScanBatcher[int, int] = ScanBatcher(run, max_batch=1)
    answers: dict[int, int] = {}
    first = threading.Thread(target=lambda: answers.setdefault(1, batcher.submit(1)))
    first.start()
    assert entered.wait(5)
    assert batcher.submit(2) == 20  # answered while the first scan still runs: nobody waited for it
    assert 1 not in answers
    release.set()
    first.join(5)
    assert answers == {1: 10} and batches == [[1], [2]]
    assert batcher.stats.batches == 2 and batcher.stats.queries == 2 and batcher.stats.largest == 1
    with pytest.raises(ValueError, match="at least 1"):
        ScanBatcher(run, max_batch=0)


def test_as_many_scans_run_at_once_as_parallel_allows_and_later_ones_batch() -> None:
    started = {1: threading.Event(), 2: threading.Event()}
    release = threading.Event()
    batches: list[list[int]] = []

    def run(requests: list[int]) -> list[int]:
        batches.append(sorted(requests))
        for r in requests:
            if r in started:
                started[r].set()
                release.wait(5)
        return [r * 10 for r in requests]

    batcher: ScanBatcher[int, int] = ScanBatcher(run, parallel=2)
    answers: dict[int, int] = {}

    def submit(value: int) -> None:
        answers[value] = batcher.submit(value)

    threads = [threading.Thread(target=submit, args=(v,)) for v in (1, 2)]
    threads[0].start()
    assert started[1].wait(5)
    threads[1].start()
    assert started[2].wait(5)  # a second scan began while the first still ran
    later = [threading.Thread(target=submit, args=(v,)) for v in (3, 4)]
    for t in later:
        t.start()
    while len(batcher._pending) < 2:  # both slots busy: the next two wait, together
        threading.Event().wait(0.001)
    release.set()
    for t in threads + later:
        t.join(5)
    assert answers == {1: 10, 2: 20, 3: 30, 4: 40}
    assert batches[:2] == [[1], [2]] and batches[2:] == [[3, 4]]
    assert batcher.stats.batches == 3 and batcher.stats.largest == 2

"""Side measurements of bench/search_indexed.py: the asymmetric RaBitQ coarse stage, bytes per chunk."""

from __future__ import annotations

from typing import Any

import numpy as np
from search_indexed import K, p50_and_found, recall

from rag.index import BinaryIndex
from rag.store.scoring import one_blas_thread, rescore_top_k


def measure_rabitq(vectors: Any, depth: int, query_bits: int = 4) -> dict[str, Any]:
    """FAISS ``IndexRaBitQ`` (1-bit codes, ``query_bits``-bit queries) as the coarse stage, same rescoring."""
    import faiss

    n, d = vectors.int8_rows.shape
    rows = np.asarray(vectors.int8_rows, dtype=np.float32)
    index: Any = faiss.IndexRaBitQ(d, faiss.METRIC_INNER_PRODUCT)
    index.train(rows[np.random.default_rng(0).choice(n, size=min(n, 50_000), replace=False)])
    index.add(rows)
    del rows
    params = faiss.RaBitQSearchParameters()
    params.qb = query_bits
    id_to_row = np.arange(n, dtype=np.int64)
    queries = vectors.query_int8.astype(np.float32)

    def search(i: int) -> list[int]:
        _, labels = index.search(queries[i : i + 1], depth, params=params)
        return [
            c for c, _ in rescore_top_k(vectors.query_int8[i], vectors.int8_rows, id_to_row, labels[0], K)
        ]

    faiss.omp_set_num_threads(1)
    with one_blas_thread():
        p50, found = p50_and_found(search, len(vectors.truth))
    return {
        "p50": p50,
        "recall_vs_int8_exact": recall(found, vectors.truth),
        "query_bits": query_bits,
        "bytes_per_chunk": index.code_size + 8,
    }


def memory_at(n: int, d: int = 1024) -> dict[str, float]:
    """Resident bytes per chunk (index + ids + id_to_row) of flat and auto-IVF, ``n`` codes of ``d`` bits."""
    from indexed_data import clustered_blocks

    codes = np.concatenate([np.packbits(b > 0, axis=1) for b in clustered_blocks(n, d)])
    ids = np.arange(n, dtype=np.int64)
    flat = BinaryIndex.build(d, ids, codes, kind="flat")
    ivf = BinaryIndex.build(d, ids, codes, kind="auto", auto_min_chunks=0)
    id_map = 8 * 5 / 4  # id_to_row: int64 per chunk id, grown by 1.25x
    return {
        "flat": flat.memory_bytes() / n + id_map,
        "indexed": ivf.memory_bytes() / n + id_map,
        "n": n,
        "d": d,
    }


def measure_usearch(
    vectors: Any, depth: int, expansions: tuple[int, ...] = (64, 128)
) -> list[dict[str, Any]]:
    """usearch's binary HNSW (``b1``, Hamming, connectivity 16) as the coarse stage, same rescoring: the graph
    candidate, measured for its speed and its bytes per chunk (``memory_usage`` / n + id_to_row)."""
    from usearch.index import Index

    n, d = vectors.int8_rows.shape
    graph: Any = Index(ndim=d, metric="hamming", dtype="b1", connectivity=16, expansion_add=128)
    graph.add(np.arange(n, dtype=np.int64), vectors.codes, threads=2)
    id_to_row = np.arange(n, dtype=np.int64)
    rows = []
    for expansion in expansions:
        graph.expansion_search = expansion

        def search(i: int) -> list[int]:
            ids = graph.search(vectors.query_bits[i], depth, threads=1).keys.astype(np.int64)
            return [c for c, _ in rescore_top_k(vectors.query_int8[i], vectors.int8_rows, id_to_row, ids, K)]

        with one_blas_thread():
            p50, found = p50_and_found(search, len(vectors.truth))
        rows.append(
            {
                "expansion_search": expansion,
                "p50": p50,
                "recall_vs_int8_exact": recall(found, vectors.truth),
                "bytes_per_chunk": graph.memory_usage / n + 8,
                "bits": d,
            }
        )
    return rows

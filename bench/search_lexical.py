"""Store-level part of ``bench/search.py``: the BM25 (SQLite FTS5) stage and hybrid fusion, per stage.

A real collection (``rag.store.Library`` in a temporary folder) holds N synthetic chunks. Text: sentences of
made-up words drawn from a Zipf (s = 1) vocabulary of ``VOCABULARY`` words, so a few words are in almost every
chunk and most are rare, as in natural language. Vectors: random clustered unit floats (N/250 centres, as in
the vector section) quantized with ``rag.quantization`` (one calibrated int8 scale, sign bits). Chunks are
inserted with ``Collection.upsert_documents`` in batches of ``BATCH_CHUNKS``; no model runs. Searches go
through ``rag.search.Searcher.search_embedded`` (query embedding excluded) with 3-8 word queries from the
same Zipf vocabulary and random query vectors from the same mixture, and report the ``SearchResult`` stage
timings. The cost of a lexical stage grows with the posting lists a query touches, so a second set of
queries always contains the most frequent word.

Beside the modes as they are (``MODES``: the lexical stage is the tantivy top-k index, ``binary+int8``
rescores at least 100 candidates), the same run times the stages they replaced (``BEFORE``: BM25 by FTS5,
``CollectionView.bm25_fts5``; a ``k x m`` pool; hybrid on FTS5). Each query runs in every mode in turn
(``interleaved``), so a shared machine's load falls on all alike; ``cpu`` is the thread's CPU time beside
the wall times. Index builds: the tantivy index from SQLite, and FTS5's ``rebuild`` of the same chunks.
Sizes up to 1M chunks work (``--lexical-sizes 300000,1000000``; minutes of build each).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from search_fts5 import rebuild_fts5, search_before

from rag.embedding.fake import HashEmbedder
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint
from rag.quantization import calibrate_scale, quantize_scaled
from rag.search import Searcher
from rag.store import Collection, Library
from rag.types import ChunkRecord, DocumentRecord, Embeddings

VOCABULARY = 5000
ZIPF_S = 1.0
CHUNKS_PER_DOCUMENT = 10
BATCH_CHUNKS = 5000
MODES = ("binary+int8", "bm25", "hybrid")
# The stages as they were before the top-k lexical index and the pool floor (timed in the same run).
BEFORE = ("binary+int8 [before: pool k x m]", "bm25 [before: fts5]", "hybrid [before: fts5]")
# Idle time before each query, as a service has between requests: a bench that never sleeps is preempted on a
# loaded machine in whichever query its time slice ends (multi-ms steps, more often in the longer modes).
IDLE_S = 0.002
# "cpu": the calling thread's CPU time (time.thread_time); preemption on a loaded machine does not inflate it
STAGES = ("total", "hamming", "rescore", "lexical", "fusion", "hydrate", "cpu")
CONSONANTS = "bcdfghjklmnprtvz"
VOWELS = "aiou"


class Text:
    """Made-up words ranked by frequency (word 0 is the most common) and a Zipf sampler over them."""

    def __init__(self, rng: np.random.Generator) -> None:
        words: list[str] = []
        seen: set[str] = set()
        while len(words) < VOCABULARY:
            syllables = int(rng.integers(2, 5))
            word = "".join(
                CONSONANTS[int(rng.integers(len(CONSONANTS)))] + VOWELS[int(rng.integers(len(VOWELS)))]
                for _ in range(syllables)
            )
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        weights = 1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF_S
        self.cdf = np.cumsum(weights / weights.sum())
        self.rng = rng

    def draw(self, count: int) -> list[str]:
        ranks = np.minimum(np.searchsorted(self.cdf, self.rng.random(count)), VOCABULARY - 1)
        return [self.words[i] for i in ranks]

    def chunk(self) -> str:
        """3-5 sentences of 8-18 words (~50 words)."""
        lengths = self.rng.integers(8, 19, size=int(self.rng.integers(3, 6)))
        words, sentences, start = self.draw(int(lengths.sum())), [], 0
        for length in lengths:
            sentence = words[start : start + int(length)]
            sentences.append(" ".join([sentence[0].capitalize(), *sentence[1:]]) + ".")
            start += int(length)
        return " ".join(sentences)

    def query(self, with_top_word: bool) -> str:
        words = self.draw(int(self.rng.integers(3, 9)))
        if with_top_word and self.words[0] not in words:
            words[int(self.rng.integers(len(words)))] = self.words[0]
        return " ".join(words)


class Mixture:
    """Clustered unit vectors (N/250 random centres plus N(0, I/d) noise), as in the vector section."""

    def __init__(self, n: int, d: int, rng: np.random.Generator) -> None:
        self.centres = rng.standard_normal((max(1, n // 250), d)).astype(np.float32)
        self.centres /= np.linalg.norm(self.centres, axis=1, keepdims=True)
        self.d = d
        self.rng = rng
        self.scale = calibrate_scale(self.draw(min(n, 5000)), 0.9999)

    def draw(self, rows: int) -> np.ndarray:
        x = self.centres[self.rng.integers(len(self.centres), size=rows)] + self.rng.standard_normal(
            (rows, self.d), np.float32
        ) / np.sqrt(self.d)
        unit: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        return unit

    def embed(self, rows: int) -> Embeddings:
        return quantize_scaled(self.draw(rows), self.scale)


def batches(
    n: int, text: Text, mixture: Mixture
) -> Iterator[list[tuple[DocumentRecord, list[ChunkRecord], Embeddings]]]:
    """Upsert batches of whole documents, ``BATCH_CHUNKS`` chunks (the last may be shorter)."""
    for start in range(0, n, BATCH_CHUNKS):
        count = min(BATCH_CHUNKS, n - start)
        embeddings = mixture.embed(count)
        items = []
        for first in range(0, count, CHUNKS_PER_DOCUMENT):
            texts = [text.chunk() for _ in range(min(CHUNKS_PER_DOCUMENT, count - first))]
            chunks, offset = [], 0
            for ordinal, chunk_text in enumerate(texts):
                chunks.append(
                    ChunkRecord(
                        ordinal, chunk_text, offset, offset + len(chunk_text), len(chunk_text.split())
                    )
                )
                offset += len(chunk_text) + 1
            document = DocumentRecord(
                id=f"doc-{(start + first) // CHUNKS_PER_DOCUMENT}",
                text=" ".join(texts),
                content_hash=f"{start + first:016x}",
            )
            items.append((document, chunks, embeddings.rows(first, first + len(texts))))
        yield items


def stage_percentiles(timings: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for stage in STAGES:
        ordered = sorted(t.get(stage, 0.0) for t in timings)
        out[stage] = {
            "p50": statistics.median(ordered),
            "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        }
    return out


def interleaved(
    searcher: Searcher, collection: Collection, names: tuple[str, ...], queries: list[tuple[str, Embeddings]]
) -> dict[str, list[dict[str, float]]]:
    """Each query in every mode (rotating which goes first), so that the load of a shared machine falls on
    all modes alike rather than on whichever block of queries it coincides with; a warm-up of 5 queries."""

    def one(name: str, query: str, embedded: Embeddings) -> dict[str, float]:
        time.sleep(IDLE_S)
        started = time.thread_time()
        if name in MODES:
            timings = dict(searcher.search_embedded(query, embedded, mode=name).timings)
        else:
            timings = search_before(collection, name, query, embedded)
        timings["cpu"] = 1e3 * (time.thread_time() - started)
        return timings

    for query, embedded in queries[:5]:  # warm-up: page cache, statement cache
        for name in names:
            one(name, query, embedded)
    out: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for i, (query, embedded) in enumerate(queries):
        for j in range(len(names)):
            name = names[(i + j) % len(names)]
            out[name].append(one(name, query, embedded))
    return out


def run_lexical(n: int, d: int, queries: int, top_word_queries: int, seed: int = 0) -> dict[str, Any]:
    """Build an N-chunk collection, then time ``MODES`` on ``queries`` queries (and bm25 / hybrid on
    ``top_word_queries`` queries holding the most common word)."""
    rng = np.random.default_rng(seed)
    text, mixture = Text(rng), Mixture(n, d, rng)
    embedder = HashEmbedder(d)
    # the synthetic text is not chunked from documents: its "chunker" names the generator
    chunker = ChunkerFingerprint(f"synthetic-zipf:s={ZIPF_S}", VOCABULARY, VOCABULARY, 1)
    fingerprint = CollectionFingerprint(embedder.fingerprint, chunker)
    with tempfile.TemporaryDirectory() as folder:
        library = Library(folder)
        try:
            collection = library.create_collection("bench", fingerprint=fingerprint)
            started = time.perf_counter()
            for items in batches(n, text, mixture):
                collection.upsert_documents(items)
            build_s = time.perf_counter() - started
            started = time.perf_counter()
            collection.bm25("warm", top_k=1)  # builds the lexical index from SQLite
            lexical_s = time.perf_counter() - started
            started = time.perf_counter()
            collection.load_index()
            index_s = time.perf_counter() - started
            fts5_s = rebuild_fts5(collection)
            searcher = Searcher(collection, embedder)
            plain = [(text.query(False), mixture.embed(1)) for _ in range(queries)]
            common = [(text.query(True), mixture.embed(1)) for _ in range(top_word_queries)]
            rows: dict[str, Any] = {}
            for label, query_set, names in (
                ("", plain, MODES + BEFORE),
                (f" + top word '{text.words[0]}'", common, MODES[1:] + BEFORE[1:]),
            ):
                for name, timings in interleaved(searcher, collection, names, query_set).items():
                    rows[name + label] = {"queries": len(query_set), **stage_percentiles(timings)}
            dense = rows["binary+int8"]
            for row in rows.values():
                row["ratio_p50_vs_binary_int8"] = row["total"]["p50"] / dense["total"]["p50"]
                row["ratio_cpu_p50_vs_binary_int8"] = row["cpu"]["p50"] / dense["cpu"]["p50"]
            top_share = float(np.mean([text.words[0] in q.split() for q, _ in plain])) if plain else 0.0
        finally:
            library.close()
    return {
        "n": n,
        "d": d,
        "vocabulary": VOCABULARY,
        "zipf_s": ZIPF_S,
        "build_s": build_s,
        "build_us_per_chunk": 1e6 * build_s / n,
        "lexical_index_s": lexical_s,
        "lexical_index_us_per_chunk": 1e6 * lexical_s / n,
        "fts5_index_s": fts5_s,
        "fts5_index_us_per_chunk": 1e6 * fts5_s / n,
        "index_load_s": index_s,
        "plain_queries_with_top_word": top_share,
        "top_word": text.words[0],
        "modes": rows,
    }


def lexical_table(result: dict[str, Any]) -> str:
    lines = [
        f"Store-level, N = {result['n']:,} chunks (~50 Zipf words each), d = {result['d']}: built in "
        f"{result['build_s']:.1f} s (upsert_documents, {BATCH_CHUNKS} chunks per call), lexical index built "
        f"in {result['lexical_index_s']:.2f} s ({result['lexical_index_us_per_chunk']:.0f} us per chunk; "
        f"FTS5 indexes them in {result['fts5_index_us_per_chunk']:.0f}), vector index loaded in "
        f"{result['index_load_s']:.2f} s; "
        f"{result['plain_queries_with_top_word']:.0%} of the plain queries "
        "hold the top word. Cells: p50 / p99 ms (cpu: the thread's CPU time).",
        "| mode | queries | total | p50 vs binary+int8 | cpu p50 vs binary+int8 | "
        + " | ".join(STAGES[1:])
        + " |",
        "|---|---|---|---|---|" + "---|" * (len(STAGES) - 1),
    ]
    for name, row in result["modes"].items():
        cells = [f"{row[s]['p50']:.2f} / {row[s]['p99']:.2f}" for s in STAGES]
        lines.append(
            f"| {name} | {row['queries']} | {cells[0]} | {row['ratio_p50_vs_binary_int8']:.2f}x | "
            f"{row['ratio_cpu_p50_vs_binary_int8']:.2f}x | " + " | ".join(cells[1:]) + " |"
        )
    return "\n".join(lines)

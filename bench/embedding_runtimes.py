"""ONNX Runtime against torch on the same random pplx-embed-context checkpoint (``bench/embedding.py
--runtimes``): late-chunked documents in tokens/s and one query's latency, with the same threads, as
same-run ratios, plus the largest int8 code difference between the two."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rag.embedding.onnx_export import export_onnx
from rag.embedding.onnx_pplx import load_onnx_checkpoint
from rag.embedding.pplx import PplxEmbedder
from rag.embedding.torch_pplx import load_checkpoint

CHUNK = "Late chunking pools every chunk over its own tokens after one forward pass over the document"
QUERY = "how does late chunking pool a chunk?"


def _median(run: Callable[[], Any], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_runtimes(args: argparse.Namespace, threads: int, shape: dict[str, int]) -> None:
    from tests.rag.embedding.tiny_checkpoints import write_pplx_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        folder = write_pplx_checkpoint(Path(tmp) / "ctx", contextual=True, shape=shape, init_std=0.02)
        export_onnx(folder, folder, name="bench", revision="bench")
        took = time.perf_counter() - started
        print(f"  (random context checkpoint {shape or 'tiny'}, written and exported in {took:.0f} s)")
        embedders = {
            "torch": PplxEmbedder(
                load_checkpoint(folder, device="cpu", dtype=torch.float32), name="b", revision="b"
            ),
            "onnx": PplxEmbedder(load_onnx_checkpoint(folder, threads=threads), name="b", revision="b"),
        }
        documents = [
            [f"{CHUNK} {d}.{c}." for c in range(args.runtime_chunks)] for d in range(args.runtime_docs)
        ]
        tokens = sum(embedders["torch"].count_document_tokens(documents))
        rates, latency, codes = {}, {}, {}
        for name, embedder in embedders.items():
            seconds = _median(partial(embedder.embed_documents, documents), args.repeats)
            rates[name] = tokens / seconds
            latency[name] = 1000 * _median(partial(embedder.embed_queries, [QUERY]), args.repeats * 5)
            rows = embedder.embed_documents(documents)
            codes[name] = np.concatenate([e.int8 for e in rows]).astype(int)
            print(f"  {name:5}: documents {rates[name]:8.0f} tok/s ({tokens} tokens), ", end="")
            print(f"one query {latency[name]:7.2f} ms")
        print(
            f"  onnx / torch: documents {rates['onnx'] / rates['torch']:.2f}x tokens/s, "
            f"query latency {latency['onnx'] / latency['torch']:.2f}x; "
            f"max |int8 difference| {np.abs(codes['onnx'] - codes['torch']).max()}"
        )

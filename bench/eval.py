"""``make eval``: retrieval quality of the offline model (all-MiniLM-L6-v2) on the shared data sets.

Runs, on the full sets:
- SciFact test (300 queries), isolated chunks, hybrid weight tuned on the train split (809 queries);
- COVID-QA (778 questions), isolated and contextual (late-chunked) chunks, hybrid weight tuned on the same
  questions (the set has no train split; the sweep table shows every weight, so the default can be read
  off it as well).

Prints a markdown report and writes it to ``bench/results/eval.md`` (the JSON beside it), and PNG plots
(``eval-modes.png``, ``eval-rescore.png``, ``eval-hybrid.png``) to ``docs/`` (``--plots DIR``; matplotlib from
the ``plot`` or ``dev`` extra; ``--plots ''`` skips them). Collections are
kept under ``data/eval`` (``RAG_EVAL_DATA_DIR``), so a second run embeds nothing. Data comes from
``RAG_SHARED_DATA`` or ``../shared/data``.

    .venv/bin/python bench/eval.py [--limit-queries N] [--limit-docs N] [--sets scifact covidqa] [--plots DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ingest.evaluation import EvalConfig, evaluate_dataset
from ingest.evaluation_plots import require_matplotlib, write_plots
from ingest.evaluation_report import describe, modes_table, rescore_table, rescore_title, sweep_table
from ingest.pipeline import IngestOptions
from rag.embedding.factory import ModelOptions, load_embedder
from rag.errors import ConfigError
from rag.fusion import DEFAULT_HYBRID
from rag.store import Library
from rag.types import DocumentMode

REPO = Path(__file__).resolve().parents[1]

MODEL = "all-minilm-l6-v2"
RUNS = (
    ("scifact", DocumentMode.ISOLATED),
    ("covidqa", DocumentMode.ISOLATED),
    ("covidqa", DocumentMode.CONTEXTUAL),
)


def data_root() -> Path:
    override = os.environ.get("RAG_SHARED_DATA")
    return Path(override) if override else REPO.parent / "shared" / "data"


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    library = Library(Path(os.environ.get("RAG_EVAL_DATA_DIR", REPO / "data" / "eval")))
    results = []
    try:
        for name, document_mode in RUNS:
            if name not in args.sets:
                continue
            embedder = load_embedder(
                ModelOptions(doc_model=MODEL, query_model=MODEL, document_mode=document_mode)
            )
            config = EvalConfig(
                folder=data_root() / name,
                limit_queries=args.limit_queries,
                limit_docs=args.limit_docs,
                tune=True,
            )
            started = time.perf_counter()
            result = evaluate_dataset(library, embedder, config, IngestOptions(), progress=_progress)
            result["seconds"] = round(time.perf_counter() - started, 1)
            results.append(result)
    finally:
        library.close()
    return results


def _progress(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def report(results: list[dict[str, Any]], command: str) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"# Retrieval quality of {MODEL} (offline model)",
        f"`{command}`, {today}. Default hybrid for untuned collections: {DEFAULT_HYBRID}.",
        modes_table(results),
    ]
    for result in results:
        parts.append(f"## {result['dataset']}, {result['document_mode']} chunks")
        parts.append(describe(result))
        if result["hybrid"].get("tuned_on_evaluated_queries"):
            parts.append("The weight was tuned on the evaluated queries themselves (no train split).")
        rescore = rescore_table(result)
        if rescore:
            parts.append(f"{rescore_title(result)}\n\n{rescore}")
        sweep = sweep_table(result)
        if sweep:
            parts.append("Fusion sweep on the evaluated queries (convex@w: w = dense share):\n\n" + sweep)
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="+", default=["scifact", "covidqa"])
    parser.add_argument("--limit-queries", type=int, default=None)
    parser.add_argument("--limit-docs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "eval.md")
    parser.add_argument("--plots", default=str(REPO / "docs"), help="folder for the PNG plots ('' for none)")
    args = parser.parse_args()
    if args.plots:
        try:
            require_matplotlib()  # fail now, not after half an hour of evaluation
        except ConfigError as exc:
            sys.exit(f"error: {exc.message}")
    results = run(args)
    text = report(
        results, "make eval" if len(sys.argv) == 1 else "python bench/eval.py " + " ".join(sys.argv[1:])
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    if args.plots:
        for path in write_plots(results, Path(args.plots)):
            print(f"plot: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""``rag eval``: retrieval quality of every search mode on a BEIR-format folder."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli.app import app, state
from ingest.evaluation import EvalConfig, evaluate_dataset
from ingest.evaluation_modes import EVAL_MODES
from ingest.evaluation_plots import require_matplotlib, write_plots
from ingest.evaluation_report import describe, modes_table, rescore_table, rescore_title, sweep_table
from ingest.evaluation_tuning import DENSE_MODE, LEXICAL_MODE
from ingest.pipeline import IngestOptions
from rag.embedding.factory import load_embedder_from_settings
from rag.store import Library
from rag.types import SEARCH_MODES, SearchMode


class Context(StrEnum):
    on = "on"
    off = "off"


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    dataset_dir: Annotated[
        Path, typer.Argument(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
    ],
    collection: Annotated[
        str | None,
        typer.Option("--collection", "-c", help="Collection to evaluate (default: eval-<data set>-...)."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Which qrels/<split>.tsv to measure.")] = "test",
    context: Annotated[
        Context | None,
        typer.Option("--context", help="on: contextual (late-chunked) chunks; off: isolated chunks."),
    ] = None,
    limit_queries: Annotated[
        int | None, typer.Option("--limit-queries", min=1, help="Only the first N judged queries.")
    ] = None,
    limit_docs: Annotated[
        int | None,
        typer.Option("--limit-docs", min=1, help="At most N documents besides those the queries judge."),
    ] = None,
    tune: Annotated[
        bool,
        typer.Option("--tune", help="Tune the hybrid weight (train split if any) and store it."),
    ] = False,
    modes: Annotated[
        list[str] | None,
        typer.Option("--mode", help=f"Only these search modes (repeatable): {', '.join(SEARCH_MODES)}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write PNG plots into this folder (needs matplotlib: the plot extra)."),
    ] = None,
) -> None:
    """Measure nDCG@10, Recall@10/100, MRR@10 (and answer-span hits) of each search mode.

    The corpus is ingested into the collection first (skipped when it is there already).

    Examples:

        rag eval ../shared/data/scifact --tune

        rag eval ../shared/data/covidqa --context off --limit-queries 50 --json

        rag eval ../shared/data/scifact --plot plots/
    """
    if plot is not None:
        require_matplotlib()  # before the long run, not after it
    settings = state(ctx).settings
    if context is not None:
        mode = "contextual" if context is Context.on else "isolated"
        settings = settings.model_copy(update={"document_mode": mode})
    chosen = tuple(SearchMode.parse(mode) for mode in modes) if modes else EVAL_MODES
    config = EvalConfig(
        folder=dataset_dir,
        split=split,
        collection=collection,
        limit_queries=limit_queries,
        limit_docs=limit_docs,
        tune=tune,
        modes=chosen,
        context_suffix=context is not None,
    )
    embedder = load_embedder_from_settings(settings)
    library = Library(settings.data_dir)
    progress = None if as_json else (lambda line: typer.echo(line, err=True))
    try:
        options = IngestOptions.from_settings(settings, max_input_tokens=embedder.max_input_tokens)
        result = evaluate_dataset(library, embedder, config, options, progress)
    finally:
        library.close()
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_report(result)
    if plot is not None:
        for path in write_plots([result], plot):
            typer.echo(f"plot: {path}", err=True)


def _print_report(result: dict[str, Any]) -> None:
    typer.echo(describe(result) + "\n")
    typer.echo(modes_table([result]) + "\n")
    rescore = rescore_table(result)
    if rescore:
        typer.echo(rescore_title(result) + "\n")
        typer.echo(rescore + "\n")
    sweep = sweep_table(result)
    if sweep:
        typer.echo(
            f"Fusion of {DENSE_MODE} and {LEXICAL_MODE} on these queries (convex@w: w = dense share):\n"
        )
        typer.echo(sweep)

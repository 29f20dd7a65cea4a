"""``rag context``: the prompt-ready context for a query (``rag.retrieve_context``), as text or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from ingest.cli.app import app, state
from ingest.cli.search_cmd import parse_filters
from ingest.encoding import DEFAULT_ENCODING, token_counter
from rag.context import retrieve_context
from rag.embedding.factory import load_embedder_from_settings
from rag.search import Searcher
from rag.store import Library
from rag.types import DEFAULT_SEARCH_MODE, SearchMode


@app.command("context")
def context_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What the prompt is about.")],
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Token budget of the context (never exceeded).")
    ] = 2000,
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection name.")] = "default",
    neighbors: Annotated[
        int, typer.Option("--neighbors", min=0, max=20, help="Chunks added on each side of every hit.")
    ] = 1,
    encoding: Annotated[
        str, typer.Option("--encoding", help="tiktoken encoding that counts the budget.")
    ] = DEFAULT_ENCODING,
    top_k: Annotated[
        int | None,
        typer.Option("-k", "--top-k", min=1, max=1000, help="Hits to retrieve [default: RAG_TOP_K]."),
    ] = None,
    mode: Annotated[SearchMode, typer.Option("--mode", help="How to search.")] = DEFAULT_SEARCH_MODE,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="KEY=VALUE on document metadata (VALUE parsed as JSON when it is)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {context, citations, tokens, model} as the API does.")
    ] = False,
) -> None:
    """Print numbered passages for QUERY ([1], [2], ...: the hits with their neighbour chunks, merged per
    document, best first) within --max-tokens tokens, ready to paste into a prompt.

    Examples:

        rag context "how do I rotate keys" --max-tokens 1500 -c handbook

        rag context "refund policy" --neighbors 0 --encoding o200k_base --json
    """
    metadata_filter = parse_filters(filters or [])
    settings = state(ctx).settings
    count_tokens = token_counter(encoding, settings.tiktoken_cache_dir)
    embedder = load_embedder_from_settings(settings)
    library = Library(settings.data_dir)
    try:
        context = retrieve_context(
            Searcher(library.open_collection(collection), embedder),
            query,
            max_tokens=max_tokens,
            count_tokens=count_tokens,
            neighbors=neighbors,
            top_k=settings.top_k if top_k is None else top_k,
            rescore_multiplier=settings.rescore_multiplier,
            filter=metadata_filter,
            mode=mode,
        )
    finally:
        library.close()
    if as_json:
        body = {
            "context": context.text,
            "citations": [asdict(citation) for citation in context.citations],
            "tokens": context.tokens,
            "model": embedder.model_name,
        }
        typer.echo(json.dumps(body, ensure_ascii=False))
    else:
        typer.echo(context.text or "no passages fit (no hits, or --max-tokens is too small)")

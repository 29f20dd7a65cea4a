"""``rag search``: query a collection and print hits, readable or as JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ingest.cli.app import app, state
from rag.embedding.factory import load_embedder_from_settings
from rag.search import Searcher, check_query
from rag.store import Library
from rag.types import DEFAULT_SEARCH_MODE, Hit, MetadataFilter, SearchMode

HIT_FIELDS = (
    "chunk_id",
    "document_id",
    "score",
    "text",
    "metadata",
    "char_start",
    "char_end",
    "page",
    "source",
    "chunk_index",
    "tokens",
)


@app.command("search")
def search_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection name.")] = "default",
    top_k: Annotated[
        int | None, typer.Option("-k", "--top-k", min=1, max=1000, help="How many hits [default: RAG_TOP_K].")
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="KEY=VALUE on document metadata (VALUE parsed as JSON when it is)."),
    ] = None,
    mode: Annotated[SearchMode, typer.Option("--mode", help="How to search.")] = DEFAULT_SEARCH_MODE,
    rescore_multiplier: Annotated[
        int | None,
        typer.Option(
            "--rescore-multiplier",
            min=1,
            max=100,
            help="binary+int8 and hybrid: rescore a fixed max(top_k x M, 100) binary candidates "
            "[default: RAG_RESCORE_MULTIPLIER, else an adaptive depth per query].",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of hits.")] = False,
) -> None:
    """Search a collection for QUERY.

    Examples:

        rag search "how do I rotate keys" --collection handbook -k 5

        rag search "refund policy" --filter format=markdown --filter 'year={"$gte": 2020}' --json
    """
    check_query(query)  # before the model loads
    metadata_filter = parse_filters(filters or [])
    settings = state(ctx).settings
    embedder = load_embedder_from_settings(settings)
    library = Library(settings.data_dir)
    try:
        searcher = Searcher(library.open_collection(collection), embedder)
        multiplier = settings.rescore_multiplier if rescore_multiplier is None else rescore_multiplier
        result = searcher.search(
            query,
            top_k=settings.top_k if top_k is None else top_k,
            rescore_multiplier=multiplier,
            filter=metadata_filter,
            mode=mode,
        )
    finally:
        library.close()
    if as_json:
        typer.echo(json.dumps([hit_dict(hit) for hit in result.hits], ensure_ascii=False))
    else:
        print_hits(result.hits)


def parse_filters(items: list[str]) -> MetadataFilter | None:
    """``KEY=VALUE`` pairs as a metadata filter; a VALUE that parses as JSON (``2020``, ``true``,
    ``{"$gte": 3}``) is taken as that value, anything else as a string."""
    result: MetadataFilter = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE.", param_hint="--filter")
        if key.strip() in result:
            raise typer.BadParameter(f"{key.strip()!r} is given twice.", param_hint="--filter")
        result[key.strip()] = _value(raw)
    return result or None


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def hit_dict(hit: Hit) -> dict[str, Any]:
    """The fields the API's hits have."""
    return {name: getattr(hit, name) for name in HIT_FIELDS} | {"title": hit.title}


def print_hits(hits: list[Hit]) -> None:
    if not hits:
        typer.echo("no hits")
    for rank, hit in enumerate(hits, start=1):
        where = hit.source or hit.document_id
        page = f", page {hit.page}" if hit.page is not None else ""
        typer.echo(f"{rank}. {hit.score:.3f}  {hit.title or hit.document_id}  ({where}{page})")
        snippet = " ".join(hit.text.split())
        typer.echo(f"   {snippet[:300]}{'...' if len(snippet) > 300 else ''}")

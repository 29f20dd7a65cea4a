"""``rag ingest``: load files and folders, chunk, embed and store them, with progress and a summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text
from typer._click.core import Context as ClickContext  # typer's own click

from ingest.cli.app import app, state
from ingest.pipeline import (
    EmbeddingStage,
    IngestOptions,
    Ingestor,
    IngestProgress,
    IngestSummary,
    ProgressCallback,
    ray_stage,
)
from ingest.stages import is_address
from rag.embedding.base import Embedder
from rag.embedding.factory import ModelOptions, load_embedder_from_settings
from rag.store import Library

DEFAULT_COLLECTION = "default"


class _OptionalRayValue(typer.core.TyperCommand):
    """``--ray`` takes an optional ADDRESS: the word after it is its value only when it looks like an
    address (``auto``, ``local``, ``ray://...``, ``host:port``); otherwise it stays a PATH, in place."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for index, arg in enumerate(args):
            following = args[index + 1] if index + 1 < len(args) else None
            if arg == "--ray" and (following is None or not is_address(following)):
                arg = "--ray="  # no address given: RAG_RAY_ADDRESS, else a local cluster
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


@app.command("ingest", cls=_OptionalRayValue)
def ingest_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection name.")
    ] = DEFAULT_COLLECTION,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="Only files matching this glob (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Skip files matching this glob (repeatable).")
    ] = None,
    sync: Annotated[
        bool, typer.Option("--sync", help="Delete stored documents whose file under PATH is gone.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count documents, chunks and tokens; embed nothing.")
    ] = False,
    keep_floats: Annotated[
        bool,
        typer.Option("--keep-floats", help="New collection only: also keep float32 vectors (float-exact)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Load, chunk and embed on a Ray cluster: ADDRESS is auto (join a running one), local, "
            "ray://host:port or host:port; none: RAG_RAY_ADDRESS, else start one here. A word after "
            "--ray that is not an address is a PATH.",
        ),
    ] = None,
) -> None:
    """Ingest PATH... into a collection: unchanged documents are skipped, changed ones re-embedded.

    Exits with status 1 when any file could not be read (each one is named with the reason).

    Examples:

        rag ingest docs/ --collection handbook

        rag ingest notes/ --include '*.md' --exclude 'drafts/*' --sync

        rag ingest docs/ --ray auto
    """
    settings = state(ctx).settings
    address = ray_address if ray_address is not None else settings.ray_address

    def sized(window: int | None) -> IngestOptions:  # the chunk sizes follow the document model's window
        return IngestOptions.from_settings(settings, keep_floats=keep_floats, max_input_tokens=window)

    if address is None:  # the model here
        embedder: Embedder | EmbeddingStage = load_embedder_from_settings(settings)
    else:  # on a cluster the model loads in Ray tasks and actors only: they report its window
        embedder = ray_stage(address or settings.ray_address, ModelOptions.from_settings(settings), sized)
    options = sized(embedder.max_input_tokens)
    library = Library(settings.data_dir)
    try:
        ingestor = Ingestor(library, embedder, options)
        with progress_bar(enabled=not as_json and sys.stderr.isatty()) as progress:
            summary = ingestor.ingest_paths(
                paths,
                collection=collection,
                include=include or (),
                exclude=exclude or (),
                sync=sync,
                dry_run=dry_run,
                progress=progress,
            )
    finally:
        library.close()
        getattr(embedder, "close", lambda: None)()
    if as_json:
        typer.echo(json.dumps(summary.to_dict()))
    else:
        print_summary(summary)
    if summary.failed:
        raise typer.Exit(1)


class _TokensPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} tokens/s" if speed else "- tokens/s", style="progress.data.speed")


@contextmanager
def progress_bar(*, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich bar on stderr (tokens done of tokens to embed), or nothing when disabled."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[documents]} docs, {task.fields[chunks]} chunks"),
        _TokensPerSecond(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading", total=None, documents="0/?", chunks=0)

        def update(event: IngestProgress) -> None:
            bar.update(
                task,
                description="embedding",
                total=max(event.tokens_total, 1),
                completed=event.tokens_done,
                documents=f"{event.documents_done}/{event.documents_total}",
                chunks=event.chunks_done,
            )

        yield update


def print_summary(summary: IngestSummary) -> None:
    """The counts on stdout; failures and empty documents named on stderr."""
    verb, embedded = ("would ingest", "to embed") if summary.dry_run else ("ingested", "embedded")
    rate = summary.tokens / summary.seconds if summary.seconds and not summary.dry_run else 0.0
    typer.echo(
        f"{verb} into {summary.collection!r}: {summary.added} added, {summary.updated} updated, "
        f"{summary.skipped} skipped, {summary.deleted} deleted, {summary.failed} failed "
        f"({summary.documents} documents read; {summary.chunks} chunks, {summary.tokens:,} tokens {embedded}"
        + (f", {rate:,.0f} tokens/s" if rate else "")
        + f", {summary.seconds:.1f} s)"
    )
    usage = summary.api_usage
    if usage.requests:
        typer.echo(f"hosted API: {usage.requests} requests, {usage.tokens:,} tokens, ${usage.cost_usd:.6f}")
    if summary.truncated:
        typer.echo(
            f"truncated: {summary.truncated} chunks are longer than the document model reads; their tail "
            "is not embedded (lower RAG_CHUNK_MAX_TOKENS, or leave it unset to fit the model)",
            err=True,
        )
    if summary.empty:
        typer.echo(f"no text, not stored: {', '.join(summary.empty)}", err=True)
    for failure in summary.failures:
        typer.echo(f"failed: {failure.name}: {failure.reason}", err=True)

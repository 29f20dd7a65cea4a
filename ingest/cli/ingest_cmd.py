"""``rag ingest``: load files and folders, chunk, embed and store them, with progress and a summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text
from typer._click.core import Context as ClickContext  # typer's own click

from ingest.cli.app import app, state
from ingest.deferred import ModelNeeded, StoredStage, stored_fingerprint
from ingest.pending import Pending
from ingest.pipeline import (
    EmbeddingStage,
    IngestOptions,
    Ingestor,
    IngestProgress,
    IngestSummary,
    ProgressCallback,
    SlicedStage,
    ray_stage,
)
from ingest.stages import is_address
from rag.embedding.base import Embedder
from rag.embedding.factory import ModelOptions, load_embedder_from_settings
from rag.settings import Settings
from rag.store import Library

DEFAULT_COLLECTION = "default"
PROGRESS_SLICE_TOKENS = 2048  # the bar's step: a few small documents, or one larger one


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
    run = partial(
        _ingest,
        paths,
        collection=collection,
        include=include or (),
        exclude=exclude or (),
        sync=sync,
        dry_run=dry_run,
    )
    library = Library(settings.data_dir)
    embedder: Embedder | EmbeddingStage | None = None
    try:
        with progress_bar(enabled=not as_json and sys.stderr.isatty()) as bar:
            summary = (
                _without_model(library, collection, settings, keep_floats, run, bar) if not address else None
            )
            if summary is None:
                bar.phase("loading model")
                embedder, options = _embedding_stage(settings, address, keep_floats, bar)
                bar.phase("reading")
                summary = run(Ingestor(library, embedder, options), bar)
    finally:
        library.close()
        getattr(embedder, "close", lambda: None)()
    if as_json:
        typer.echo(json.dumps(summary.to_dict()))
    else:
        print_summary(summary)
    if summary.failed:
        raise typer.Exit(1)


def _ingest(
    paths: list[Path], ingestor: Ingestor, progress: ProgressCallback | None, **options: Any
) -> IngestSummary:
    return ingestor.ingest_paths(paths, progress=progress, **options)


def _without_model(
    library: Library,
    collection: str,
    settings: Settings,
    keep_floats: bool,
    run: Callable[[Ingestor, ProgressCallback | None], IngestSummary],
    bar: _Bar,
) -> IngestSummary | None:
    """The run's summary when nothing needs embedding (no model loaded); None when the model is needed
    (or the collection does not exist yet, or the configured models differ from its own)."""
    defaults = IngestOptions.from_settings(settings, keep_floats=keep_floats)
    stored = stored_fingerprint(library, collection, settings, defaults)
    if stored is None:
        return None
    fingerprint, options = stored
    try:
        return run(Ingestor(library, StoredStage(fingerprint), options), bar)
    except ModelNeeded:
        return None


def _embedding_stage(
    settings: Settings, address: str | None, keep_floats: bool, bar: _Bar
) -> tuple[Embedder | EmbeddingStage, IngestOptions]:
    if address is None:  # the model here: the chunk sizes follow its window
        model = load_embedder_from_settings(settings)
        window = model.max_input_tokens
        options = IngestOptions.from_settings(settings, keep_floats=keep_floats, max_input_tokens=window)
        # embedded in slices, so the bar moves every few documents (a write batch holds ~70)
        return SlicedStage(model, slice_tokens=PROGRESS_SLICE_TOKENS, after_slice=bar.embedded), options

    # on a cluster the model loads in Ray tasks and actors only: they report its window
    def sized(window: int | None) -> IngestOptions:
        return IngestOptions.from_settings(settings, keep_floats=keep_floats, max_input_tokens=window)

    stage = ray_stage(address or settings.ray_address, ModelOptions.from_settings(settings), sized)
    return stage, sized(stage.max_input_tokens)


class _TokensPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} tokens/s" if speed else "- tokens/s", style="progress.data.speed")


class _Bar:
    """The progress callback, and the phase shown before there is progress (loading the model)."""

    def __init__(self, bar: Progress | None) -> None:
        self.bar = bar
        self.last: IngestProgress | None = None
        self.task = bar.add_task("reading", total=None, documents="0/?", chunks=0) if bar else None

    def phase(self, description: str) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=description)

    def __call__(self, event: IngestProgress) -> None:
        self.last = event
        if self.bar is None or self.task is None:
            return
        self.bar.update(
            self.task,
            description="embedding",
            total=max(event.tokens_total, 1),
            completed=event.tokens_done,
            documents=f"{event.documents_done}/{event.documents_total}",
            chunks=event.chunks_done,
        )

    def embedded(self, part: list[Pending]) -> None:
        """A slice of a write batch is embedded: advance by its documents before the batch is written."""
        if self.last is None:
            return
        done = self.last
        self(
            IngestProgress(
                done.documents_done + len(part),
                done.documents_total,
                done.chunks_done + sum(len(item.chunks) for item in part),
                done.tokens_done + sum(item.tokens for item in part),
                done.tokens_total,
            )
        )


@contextmanager
def progress_bar(*, enabled: bool) -> Iterator[_Bar]:
    """A rich bar on stderr (a phase, then tokens done of tokens to embed); does nothing when disabled."""
    if not enabled:
        yield _Bar(None)
        return
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[documents]} docs, {task.fields[chunks]} chunks"),
        _TokensPerSecond(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield _Bar(bar)


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

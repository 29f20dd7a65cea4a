"""``rag collections`` (list them with counts and fingerprints) and ``rag delete``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ingest.cli.app import app, state
from rag.errors import DocumentNotFoundError
from rag.store import Library
from rag.types import CollectionInfo


@app.command("collections")
def collections_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the collections with their document and chunk counts and what built them.

    A collection whose database cannot be read is listed with its error (JSON: counts -1 and "error"),
    the others as usual; the exit status is then 1, like ``rag ingest`` with failed files.
    """
    library = Library(state(ctx).settings.data_dir)
    try:
        infos = library.list_collections()
    finally:
        library.close()
    if as_json:
        typer.echo(json.dumps([_row(info) for info in infos]))
    else:
        _print_readable(infos, library)
    corrupt = [info.name for info in infos if info.error is not None]
    if corrupt:
        typer.echo(f"cannot be read: {', '.join(corrupt)} (the other collections are unaffected)", err=True)
        raise typer.Exit(1)


def _row(info: CollectionInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "documents": info.documents,
        "chunks": info.chunks,
        "fingerprint": info.fingerprint,
        "error": info.error,
    }


def _print_readable(infos: list[CollectionInfo], library: Library) -> None:
    if not infos:
        typer.echo(f"no collections in {library.data_dir}")
    for info in infos:
        if info.error is not None:
            typer.echo(f"{info.name}: CORRUPT: {info.error}")
        else:
            typer.echo(describe(info.name, info.documents, info.chunks, info.fingerprint))


def describe(name: str, documents: int, chunks: int, fingerprint: dict[str, Any]) -> str:
    """One readable line about a collection."""
    embedder, chunker = fingerprint.get("embedder", {}), fingerprint.get("chunker", {})
    model = f"{embedder.get('doc_model')} ({embedder.get('dimensions')}-d, {embedder.get('document_mode')})"
    sizes = f"{chunker.get('target_tokens')}/{chunker.get('max_tokens')} {chunker.get('encoding')} tokens"
    return f"{name}: {documents} documents, {chunks} chunks; model {model}; chunks {sizes}"


@app.command("delete")
def delete_command(
    ctx: typer.Context,
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection to delete from.")],
    doc: Annotated[str | None, typer.Option("--doc", help="Delete only this document id.")] = None,
) -> None:
    """Delete a whole collection, or one document of it with --doc.

    Examples:

        rag delete --collection scratch

        rag delete --collection handbook --doc guide/old-page.md
    """
    library = Library(state(ctx).settings.data_dir)
    try:
        if doc is None:
            library.delete_collection(collection)
            typer.echo(f"deleted collection {collection!r}")
            return
        if not library.open_collection(collection).delete_documents([doc]):
            raise DocumentNotFoundError(f"no document {doc!r} in collection {collection!r}.")
        typer.echo(f"deleted document {doc!r} from {collection!r}")
    finally:
        library.close()

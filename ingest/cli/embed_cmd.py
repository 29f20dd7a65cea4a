"""``rag embed``: embed texts as queries, or a JSON file of documents as contextual chunks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli.app import app, state
from rag.embedding.factory import ModelOptions, load_embedder
from rag.errors import InvalidInputError
from rag.quantization import bits_to_pm1
from rag.types import Embeddings

FORMATS = ("int8", "binary", "ubinary")


@app.command("embed")
def embed(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to embed as queries.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model folder or hub id for this command (both sides).")
    ] = None,
    documents: Annotated[
        Path | None,
        typer.Option("--documents", help="JSON file: a list of documents, each a list of chunk strings."),
    ] = None,
    dimensions: Annotated[int | None, typer.Option("--dimensions", help="Matryoshka prefix size.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="int8, binary (±1) or ubinary.")] = "int8",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Embed TEXT... as queries, or the chunks of --documents FILE in their documents' context.

    Examples:

        rag embed "what is late chunking?" --json

        rag embed --documents docs.json --format ubinary --json
    """
    if output_format not in FORMATS:
        raise InvalidInputError(f"--format must be one of {', '.join(FORMATS)}, got {output_format!r}.")
    if bool(texts) == (documents is not None):
        raise InvalidInputError("give either TEXT arguments or --documents FILE (one of the two).")
    settings = state(ctx).settings
    options = ModelOptions.from_settings(settings)
    if model:  # one model for both sides, at its latest revision
        options = replace(options, doc_model=model, query_model=model, doc_revision=None, query_revision=None)
    if dimensions is not None:
        options = replace(options, dimensions=dimensions)
    embedder = load_embedder(options)
    if documents is not None:
        rows: Any = [_rows(e, output_format) for e in embedder.embed_documents(read_documents(documents))]
    else:
        rows = _rows(embedder.embed_queries(list(texts or [])), output_format)
    fingerprint = embedder.fingerprint
    name = fingerprint.doc_model if documents is not None else fingerprint.query_model
    if as_json:
        typer.echo(json.dumps({"model": name, "dimensions": embedder.dimensions, "embeddings": rows}))
    else:
        _print_readable(name, embedder.dimensions, output_format, rows, documents is not None)


def read_documents(path: Path) -> list[list[str]]:
    """The documents of a JSON file holding a list of lists of strings."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read documents from {path}: {exc}") from None
    valid = isinstance(data, list) and all(
        isinstance(doc, list) and all(isinstance(chunk, str) for chunk in doc) for doc in data
    )
    if not valid:
        raise InvalidInputError(f"{path} must hold a JSON list of documents, each a list of strings.")
    return data  # type: ignore[no-any-return]


def _rows(embeddings: Embeddings, output_format: str) -> list[list[int]]:
    """Rows as lists of ints: int8 codes, ±1 signs, or the packed (MSB-first) sign bytes."""
    if output_format == "int8":
        return embeddings.int8.astype(int).tolist()  # type: ignore[no-any-return]
    if output_format == "binary":
        return bits_to_pm1(embeddings.bits, embeddings.dimensions).astype(int).tolist()  # type: ignore[no-any-return]
    return embeddings.bits.astype(int).tolist()  # type: ignore[no-any-return]


def _print_readable(name: str, dimensions: int, output_format: str, rows: Any, documents: bool) -> None:
    typer.echo(f"model {name}, {dimensions} dimensions, format {output_format}")
    groups = rows if documents else [rows]
    for doc_index, group in enumerate(groups):
        if documents:
            typer.echo(f"document {doc_index}: {len(group)} chunks")
        for row_index, row in enumerate(group):
            head = " ".join(str(v) for v in row[:12])
            more = f" ... ({len(row)} values)" if len(row) > 12 else ""
            typer.echo(f"  [{row_index}] {head}{more}")

"""The Typer application, its global options, and the state they build for every command.

Commands live in their own modules (``ingest/cli/*_cmd.py``), each registering on ``app``;
``ingest.cli.main`` imports them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from rag.errors import ConfigError
from rag.settings import Settings

app = typer.Typer(
    name="rag",
    help="Retrieval on contextual chunk embeddings: ingest documents, search them, serve them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class CliState:
    """What the global options produced; commands read it from ``ctx.obj``."""

    settings: Settings


def build_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command line's non-None options on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where collections live (default: RAG_DATA_DIR).")
    ] = None,
    doc_model: Annotated[
        str | None, typer.Option("--doc-model", help="Document model: local folder or hub id.")
    ] = None,
    query_model: Annotated[
        str | None, typer.Option("--query-model", help="Query model: local folder or hub id.")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or mps.")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="auto, float32 or bfloat16.")] = None,
    document_mode: Annotated[
        str | None, typer.Option("--document-mode", help="auto, contextual or isolated.")
    ] = None,
) -> None:
    """Retrieval on contextual chunk embeddings.

    Examples:

        rag ingest docs/ --collection handbook

        rag search "how do I rotate keys" --collection handbook -k 5
    """
    ctx.obj = CliState(
        build_settings(
            data_dir=data_dir,
            doc_model=doc_model,
            query_model=query_model,
            device=device,
            dtype=dtype,
            document_mode=document_mode,
        )
    )


def state(ctx: typer.Context) -> CliState:
    """The global state built by ``main_options``."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        raise ConfigError("the command line state was not initialised.")
    return obj

"""``rag export-onnx``: write a local pplx-embed checkpoint in the model card's ONNX layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ingest.cli.app import app
from rag.embedding.factory import resolve_model
from rag.errors import ModelLoadError


@app.command("export-onnx")
def export_onnx_command(
    checkpoint: Annotated[Path, typer.Argument(help="Local pplx-embed folder (config.json, safetensors).")],
    out: Annotated[Path, typer.Argument(help="Folder to write: OUT/onnx/model.onnx plus tokenizer files.")],
) -> None:
    """Export CHECKPOINT to OUT/onnx/model.onnx (inputs input_ids, attention_mask; outputs
    last_hidden_state, pooler_output, pooler_output_int8, pooler_output_binary), with the tokenizer
    and config files beside it, for RAG_RUNTIME=onnx. OUT may be CHECKPOINT itself (the hub layout).

    Examples:

        rag export-onnx ./pplx-embed-context-v1-0.6b ./pplx-embed-context-v1-0.6b

        RAG_RUNTIME=onnx rag --doc-model ./pplx-embed-context-v1-0.6b ingest docs/ -c handbook
    """
    from rag.embedding.onnx_export import export_onnx
    from rag.embedding.pplx_tokens import is_pplx_folder

    folder, name, revision = resolve_model(str(checkpoint), None)
    if not is_pplx_folder(folder):
        raise ModelLoadError(f"{checkpoint} is not a pplx-embed checkpoint (config.json model_type).")
    target = export_onnx(folder, out, name=name, revision=revision)
    typer.echo(f"wrote {target} ({name}, revision {revision})")

"""``rag export-onnx``: write a pplx-embed checkpoint in the model card's ONNX layout (EMBEDDINGS.md 4).

``OUT/onnx/model.onnx`` takes ``input_ids`` and ``attention_mask`` (B, S) int64, both axes dynamic, and
gives ``last_hidden_state`` (B, S, D), ``pooler_output`` (the float mean over the mask, before tanh),
``pooler_output_int8`` (int8 codes) and ``pooler_output_binary`` (±1). The graph is the torch backend's
own forward (``bidirectional_hidden``: pad keys masked, no causal mask), traced; the tokenizer and config
files are copied beside it, so ``OUT`` is a folder the ONNX runtime loads like a hub snapshot.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from rag.embedding.onnx_pplx import ONNX_PATH, SOURCE_FILE
from rag.embedding.torch_pplx import bidirectional_hidden, load_checkpoint
from rag.embedding.torch_runtime import import_torch
from rag.errors import ModelLoadError

INPUTS = ["input_ids", "attention_mask"]
OUTPUTS = ["last_hidden_state", "pooler_output", "pooler_output_int8", "pooler_output_binary"]
OPSET = 18


def _pooled_module(model: Any) -> Any:
    torch = import_torch()

    class PooledPplx(torch.nn.Module):  # type: ignore[misc,name-defined]
        """The four outputs of the card's graph, computed from the mask inside the graph."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any, Any, Any]:
            hidden = bidirectional_hidden(self.model, input_ids, attention_mask).float()
            weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            codes = torch.clamp(torch.round(torch.tanh(pooled) * 127.0), -128.0, 127.0).to(torch.int8)
            signs = torch.where(pooled >= 0, 1.0, -1.0)
            return hidden, pooled, codes, signs

    return PooledPplx().eval()


def export_onnx(checkpoint: Path, out: Path, *, name: str, revision: str) -> Path:
    """Export ``checkpoint`` (a local pplx folder) to ``out``; returns the path of the graph."""
    torch = import_torch()
    loaded = load_checkpoint(checkpoint, device="cpu", dtype=torch.float32)
    module = _pooled_module(loaded.model)
    sample = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.long)
    target = out / ONNX_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    axes |= {"last_hidden_state": {0: "batch", 1: "sequence"}}
    axes |= {output: {0: "batch"} for output in OUTPUTS[1:]}
    try:
        # The tracer warns about transformers' shape checks; each is constant for the bidirectional path
        # (a mask is always given), which the tests check on other batch sizes and lengths.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (sample, mask),
                str(target),
                input_names=INPUTS,
                output_names=OUTPUTS,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # the exporter fails in many ways; the message says which
        raise ModelLoadError(f"cannot export {checkpoint} to ONNX: {exc}") from None
    _copy_companions(checkpoint, out)
    (out / SOURCE_FILE).write_text(json.dumps({"name": name, "revision": revision}, indent=2))
    return target


def _copy_companions(checkpoint: Path, out: Path) -> None:
    """The tokenizer and config files (everything but the weights) beside the graph."""
    for source in [*checkpoint.glob("*.json"), *checkpoint.glob("*.txt"), *checkpoint.glob("*.py")]:
        target = out / source.name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)

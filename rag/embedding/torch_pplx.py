"""Loading a pplx-embed checkpoint and running its bidirectional Qwen3 forward (EMBEDDINGS.md 1-3).

The checkpoint is read without ``trust_remote_code``: config.json becomes a stock ``Qwen3Config``, the
prefix-less safetensors load into a stock ``Qwen3Model``, and the causal mask is removed the safe way
(EMBEDDINGS.md "Option B"): ``is_causal = False`` on every attention layer plus an explicit additive
4D mask [B, 1, 1, S] that hides pad keys only. A 4D mask is passed through untouched by transformers'
mask builders, and sdpa gets ``is_causal=False`` whenever a mask is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rag.embedding.batching import TokenSequence
from rag.embedding.pplx_tokens import (
    MAX_TOKENS,
    PplxModel,
    is_context_checkpoint,
    is_pplx_folder,
    load_tokens,
    read_json,
)
from rag.embedding.torch_runtime import import_torch, import_transformers, pool_sequences, quiet_loading
from rag.errors import ModelLoadError
from rag.types import Float32Array

__all__ = [
    "PplxCheckpoint",
    "bidirectional_hidden",
    "is_context_checkpoint",
    "is_pplx_folder",
    "load_checkpoint",
]

# Keys of the remote config that describe the remote code, not the network.
_REMOTE_KEYS = ("model_type", "auto_map", "architectures", "torch_dtype", "dtype", "transformers_version")


@dataclass
class PplxCheckpoint(PplxModel):
    """A checkpoint loaded in torch: the tokens plus the network on its device."""

    model: Any = None  # transformers.Qwen3Model, bidirectional, in eval mode on its device
    device: str = "cpu"

    def pool(self, sequences: Sequence[TokenSequence], *, max_batch_tokens: int) -> Float32Array:
        forward = partial(bidirectional_hidden, self.model)
        return pool_sequences(
            forward, sequences, pad_id=self.pad_id, max_batch_tokens=max_batch_tokens, device=self.device
        )


def load_checkpoint(folder: Path, *, device: str, dtype: Any, max_length: int = MAX_TOKENS) -> PplxCheckpoint:
    """Load a pplx-embed folder (config.json, *.safetensors, tokenizer.json) onto ``device``."""
    tokens = load_tokens(folder, max_length)
    model = _load_model(folder, read_json(folder / "config.json"), device, dtype)
    fields = tokens.as_fields() | {"hidden_size": int(model.config.hidden_size)}
    return PplxCheckpoint(**fields, model=model, device=device)


def _load_model(folder: Path, config: dict[str, Any], device: str, dtype: Any) -> Any:
    transformers = import_transformers()
    if not list(folder.glob("*.safetensors")):
        raise ModelLoadError(f"{folder} holds no .safetensors weights.")
    values = {key: value for key, value in config.items() if key not in _REMOTE_KEYS}
    values["use_cache"] = False
    qwen_config = transformers.Qwen3Config(**values)
    try:
        with quiet_loading():
            model, info = transformers.Qwen3Model.from_pretrained(
                str(folder),
                config=qwen_config,
                dtype=dtype,
                attn_implementation="sdpa",
                local_files_only=True,
                output_loading_info=True,
            )
    except Exception as exc:  # corrupt or foreign weight files fail in many ways inside transformers
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot load the pplx-embed weights in {folder}: {reason}") from None
    wrong = sorted(info.get("missing_keys", [])) + sorted(str(k) for k in info.get("mismatched_keys", []))
    if wrong:
        raise ModelLoadError(f"the weights in {folder} do not fit Qwen3Model ({', '.join(wrong[:5])}).")
    for layer in model.layers:
        layer.self_attn.is_causal = False
    return model.to(device).eval()


def bidirectional_hidden(model: Any, input_ids: Any, mask: Any) -> Any:
    """Final-norm hidden states (B, S, D) in the model's dtype for right-padded ``input_ids`` (B, S) int64.

    ``mask`` (B, S) is 1 on real tokens. Pad keys get the dtype's most negative value; pad query
    rows still see the real tokens (no NaN rows) and are dropped by pooling. Positions run 0..S-1,
    which are the real tokens' positions under right padding.
    """
    torch = import_torch()
    dtype = next(model.parameters()).dtype
    batch, length = input_ids.shape
    additive = torch.zeros((batch, 1, 1, length), dtype=dtype, device=input_ids.device)
    additive.masked_fill_(mask[:, None, None, :] == 0, torch.finfo(dtype).min)
    positions = torch.arange(length, device=input_ids.device).unsqueeze(0).expand(batch, -1)
    output = model(input_ids=input_ids, attention_mask=additive, position_ids=positions, use_cache=False)
    return output.last_hidden_state

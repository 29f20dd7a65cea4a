"""Loading a pplx-embed checkpoint and running its bidirectional Qwen3 forward (EMBEDDINGS.md 1-3).

The checkpoint is read without ``trust_remote_code``: config.json becomes a stock ``Qwen3Config``, the
prefix-less safetensors load into a stock ``Qwen3Model``, and the causal mask is removed the safe way
(EMBEDDINGS.md "Option B"): ``is_causal = False`` on every attention layer plus an explicit additive
4D mask [B, 1, 1, S] that hides pad keys only. A 4D mask is passed through untouched by transformers'
mask builders, and sdpa gets ``is_causal=False`` whenever a mask is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.embedding.torch_runtime import import_torch, import_transformers, quiet_loading
from rag.errors import ModelLoadError

PPLX_MODEL_TYPE = "bidirectional_pplx_qwen3"
CONTEXT_AUTO_MODEL = "modeling.PPLXQwen3ContextualModel"
SEPARATOR = "<|endoftext|>"
MAX_TOKENS = 32768
# Keys of the remote config that describe the remote code, not the network.
_REMOTE_KEYS = ("model_type", "auto_map", "architectures", "torch_dtype", "dtype", "transformers_version")


@dataclass
class PplxCheckpoint:
    """A loaded checkpoint: the network, its tokenizers and what the folder says about it."""

    model: Any  # transformers.Qwen3Model, bidirectional, in eval mode on its device
    tokenizer: Any  # tokenizers.Tokenizer, no truncation (to measure documents)
    truncating: Any  # the same tokenizer truncating at max_length (for texts that must fit)
    contextual: bool
    separator: str
    separator_id: int
    pad_id: int
    max_length: int
    special_tokens: int  # tokens the tokenizer's post-processor adds to one text

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when the file does not exist."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def is_pplx_folder(folder: Path) -> bool:
    """Whether config.json names the pplx-embed model type."""
    return read_json(folder / "config.json").get("model_type") == PPLX_MODEL_TYPE


def is_context_checkpoint(folder: Path) -> bool:
    """A context model: auto_map AutoModel is the contextual class, or the tokenizer defines sep_token."""
    auto_model = str(read_json(folder / "config.json").get("auto_map", {}).get("AutoModel", ""))
    # Hub auto_map values may carry a "repo--" prefix before the module path.
    if auto_model.split("--")[-1] == CONTEXT_AUTO_MODEL:
        return True
    return bool(read_json(folder / "special_tokens_map.json").get("sep_token"))


def _token_text(value: Any) -> str | None:
    """A special token's text whether stored as a string or as an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def load_checkpoint(folder: Path, *, device: str, dtype: Any, max_length: int = MAX_TOKENS) -> PplxCheckpoint:
    """Load a pplx-embed folder (config.json, *.safetensors, tokenizer.json) onto ``device``."""
    if not is_pplx_folder(folder):
        raise ModelLoadError(f"{folder} is not a pplx-embed checkpoint (config.json model_type).")
    tokenizer, truncating, special = _load_tokenizers(folder, max_length)
    specials = read_json(folder / "special_tokens_map.json") | read_json(folder / "tokenizer_config.json")
    separator = _token_text(specials.get("sep_token")) or SEPARATOR
    separator_id = tokenizer.token_to_id(separator)
    pad_id = tokenizer.token_to_id(_token_text(specials.get("pad_token")) or SEPARATOR)
    if separator_id is None or pad_id is None:
        raise ModelLoadError(f"the tokenizer in {folder} does not know the separator {separator!r}.")
    config = read_json(folder / "config.json")
    limit = min(max_length, int(config.get("max_position_embeddings", max_length)))
    truncating.enable_truncation(limit)
    return PplxCheckpoint(
        model=_load_model(folder, config, device, dtype),
        tokenizer=tokenizer,
        truncating=truncating,
        contextual=is_context_checkpoint(folder),
        separator=separator,
        separator_id=int(separator_id),
        pad_id=int(pad_id),
        max_length=limit,
        special_tokens=special,
    )


def _load_tokenizers(folder: Path, max_length: int) -> tuple[Any, Any, int]:
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder} has no tokenizer.json.")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    processor = tokenizer.post_processor
    special = int(processor.num_special_tokens_to_add(False)) if processor is not None else 0
    return tokenizer, Tokenizer.from_file(str(path)), special


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

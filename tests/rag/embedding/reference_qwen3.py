"""An independent reference of the pplx-embed forward, in plain float64 torch, sharing no project code.

Written from EMBEDDINGS.md section 2: RMSNorm, per-head q/k RMSNorm, rotate-half RoPE after the norm,
GQA, softmax attention over every token (no causal mask), SwiGLU, final RMSNorm. One unpadded
sequence at a time, so no mask is needed at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file


class ReferenceQwen3:
    def __init__(self, folder: Path) -> None:
        self.config = json.loads((folder / "config.json").read_text())
        self.weights = {k: v.double() for k, v in load_file(str(folder / "model.safetensors")).items()}

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        eps = float(self.config["rms_norm_eps"])
        return weight * x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps)

    def _rope(self, x: torch.Tensor) -> torch.Tensor:
        """x: (heads, S, head_dim); the NeoX rotate-half rotation at positions 0..S-1."""
        dim = x.shape[-1]
        inv_freq = float(self.config["rope_theta"]) ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        angles = torch.arange(x.shape[1], dtype=torch.float64)[:, None] * inv_freq[None, :]
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        first, second = x[..., : dim // 2], x[..., dim // 2 :]
        return x * cos + torch.cat([-second, first], dim=-1) * sin

    def hidden(self, ids: list[int]) -> torch.Tensor:
        """Final-norm hidden states (S, D) float64 of one sequence."""
        w, c = self.weights, self.config
        heads, kv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        x = w["embed_tokens.weight"][torch.tensor(ids)]
        for i in range(c["num_hidden_layers"]):
            p = f"layers.{i}."
            h = self._rms(x, w[p + "input_layernorm.weight"])
            q = self._rms(
                (h @ w[p + "self_attn.q_proj.weight"].T).view(-1, heads, hd), w[p + "self_attn.q_norm.weight"]
            )
            k = self._rms(
                (h @ w[p + "self_attn.k_proj.weight"].T).view(-1, kv, hd), w[p + "self_attn.k_norm.weight"]
            )
            v = (h @ w[p + "self_attn.v_proj.weight"].T).view(-1, kv, hd)
            q, k = self._rope(q.transpose(0, 1)), self._rope(k.transpose(0, 1))
            k = k.repeat_interleave(heads // kv, dim=0)
            v = v.transpose(0, 1).repeat_interleave(heads // kv, dim=0)
            scores = torch.softmax(q @ k.transpose(1, 2) / hd**0.5, dim=-1)
            attn = (scores @ v).transpose(0, 1).reshape(len(ids), heads * hd)
            x = x + attn @ w[p + "self_attn.o_proj.weight"].T
            h2 = self._rms(x, w[p + "post_attention_layernorm.weight"])
            gate = torch.nn.functional.silu(h2 @ w[p + "mlp.gate_proj.weight"].T)
            x = x + (gate * (h2 @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        return self._rms(x, w["norm.weight"])

    def pooled(self, ids: list[int]) -> torch.Tensor:
        """Mean over every token (pplx-embed-v1), (D,) float64."""
        return self.hidden(ids).mean(dim=0)

    def late_chunks(self, ids: list[int], sep_id: int, n_chunks: int) -> torch.Tensor:
        """Per-chunk means of the tokens between separators (separators excluded), (n_chunks, D)."""
        hidden = self.hidden(ids)
        rows, start = [], 0
        for pos, token in enumerate([*ids, sep_id]):
            if token == sep_id:
                empty = torch.zeros(hidden.shape[1], dtype=torch.float64)
                rows.append(hidden[start:pos].mean(dim=0) if pos > start else empty)
                start = pos + 1
        return torch.stack(rows[:n_chunks])

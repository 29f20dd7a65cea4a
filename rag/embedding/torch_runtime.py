"""torch plumbing shared by the local backends: lazy import, device, dtype, threads, pooling.

Only this module, ``torch_pplx.py``, ``pplx.py`` and ``encoder.py`` import torch (docs/architecture.md);
the import is lazy so that the rest of the project works without the ``hf`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.embedding.batching import TokenSequence, plan_batches
from rag.embedding.heap import release_free_heap
from rag.errors import ConfigError, EmbeddingError
from rag.types import Float32Array

if TYPE_CHECKING:
    import torch

HF_EXTRA_HINT = "install the local model backends with: pip install 'pplx-rag[hf]'"
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16")


def import_torch() -> Any:
    """``torch``, or an ImportError that names the ``hf`` extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the test environment has torch
        raise ImportError(f"the local embedding backends need torch; {HF_EXTRA_HINT}") from exc
    return torch


def import_transformers() -> Any:
    """``transformers``, or an ImportError that names the ``hf`` extra."""
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - the test environment has transformers
        raise ImportError(f"the local embedding backends need transformers; {HF_EXTRA_HINT}") from exc
    return transformers


def resolve_device(device: str) -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must be available."""
    torch = import_torch()
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}.")
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu.")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """float32 by default on CPU and MPS, bfloat16 on CUDA; float16 is refused (it gives NaNs)."""
    th = import_torch()
    if dtype == "float16":
        raise ConfigError(
            "dtype float16 is refused: pplx-embed produces NaNs in float16; use float32 or bfloat16."
        )
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
    wide = dtype == "bfloat16" or (dtype == "auto" and device == "cuda")
    chosen: torch.dtype = th.bfloat16 if wide else th.float32
    return chosen


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads share one core's matmul units)."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(allowed))
        cores.add((package, core))
    return max(1, len(cores) or (os.cpu_count() or 1))


def configure_threads(torch_threads: int | None) -> int:
    """Set torch's intra-op threads: the setting, else the physical cores (PERFORMANCE.md section 6)."""
    torch = import_torch()
    threads = torch_threads if torch_threads is not None else physical_cores()
    if threads < 1:
        raise ConfigError(f"torch_threads must be at least 1, got {threads}.")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return int(threads)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, S, D) over positions where ``mask`` (B, S) is 1, in float32 -> (B, D).

    Sums in float32 whatever the model dtype, so bfloat16 runs lose nothing in the pooling itself.
    """
    weights = mask.float().unsqueeze(-1)
    total = (hidden.float() * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    return total / counts


def span_pool(hidden: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
    """Means of ``hidden`` (S, D) over half-open token spans [start, end) -> (len(spans), D) float32.

    An empty span gives a zero row (an empty chunk embeds to all-zero codes, as the official encode).
    """
    th = import_torch()
    rows: torch.Tensor = th.zeros((len(spans), hidden.shape[-1]), dtype=th.float32, device=hidden.device)
    for row, (start, end) in enumerate(spans):
        if end > start:
            rows[row] = hidden[start:end].float().mean(dim=0)
    return rows


Forward = Callable[[Any, Any], Any]


def pool_sequences(
    forward: Forward,
    sequences: Sequence[TokenSequence],
    *,
    pad_id: int,
    max_batch_tokens: int,
    device: str,
) -> Float32Array:
    """Pooled vectors (sum of rows, D) float32 of ``sequences``, rows in input order.

    Sequences are batched by token budget with length bucketing (``plan_batches``), right-padded
    with ``pad_id``; ``forward(input_ids, mask)`` returns hidden states (B, S, D).
    """
    if not sequences:
        return np.zeros((0, 0), dtype=np.float32)
    torch = import_torch()
    pooled: list[Any] = [None] * len(sequences)
    with torch.inference_mode():
        for batch in plan_batches([len(seq.ids) for seq in sequences], max_batch_tokens):
            members = [sequences[i] for i in batch]
            ids, mask = _pad(torch, members, pad_id, device)
            hidden = forward(ids, mask)
            for row, (index, seq) in enumerate(zip(batch, members, strict=True)):
                if seq.spans is None:
                    pooled[index] = mean_pool(hidden[row : row + 1], mask[row : row + 1])
                else:
                    pooled[index] = span_pool(hidden[row], seq.spans)
            # Only the pooled rows outlive a batch: drop its activations before the next forward and
            # hand the freed pages back (rag/embedding/heap.py), so memory follows the batch budget.
            del hidden, ids, mask
            release_free_heap()
    result = np.asarray(torch.cat(pooled).cpu().numpy(), dtype=np.float32)
    expected = sum(seq.rows for seq in sequences)
    if result.shape[0] != expected:
        raise EmbeddingError(f"pooled {result.shape[0]} rows for {expected} expected.")
    return result


def _pad(torch: Any, members: Sequence[TokenSequence], pad_id: int, device: str) -> tuple[Any, Any]:
    """Right-padded ids (B, S) int64 and mask (B, S) int64; an empty text keeps one masked pad."""
    width = max(1, max(len(seq.ids) for seq in members))
    ids = torch.full((len(members), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(members), width), dtype=torch.long)
    for row, seq in enumerate(members):
        ids[row, : len(seq.ids)] = torch.tensor(seq.ids, dtype=torch.long)
        mask[row, : len(seq.ids)] = 1
    return ids.to(device), mask.to(device)


@contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers without its progress bar and warnings while loading (our errors say what failed)."""
    logging = import_transformers().utils.logging
    was_enabled, verbosity = logging.is_progress_bar_enabled(), logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if was_enabled:
            logging.enable_progress_bar()

"""The pplx backend in ONNX Runtime: a folder holding ``onnx/model.onnx`` in the model card's layout.

The graph takes ``input_ids`` / ``attention_mask`` (B, S) int64 and gives ``last_hidden_state`` and
``pooler_output`` (EMBEDDINGS.md section 4). Sequences without spans (queries, isolated chunks) use
``pooler_output``; contextual documents pool ``last_hidden_state`` over each chunk's span. Tokens, spans,
windows and batches are planned by the same code as in torch (``PplxEmbedder``, ``batching``), so the
two runtimes feed the network the same sequences. Only this module imports onnxruntime; nothing here
imports torch, so ``pip install 'pplx-rag[onnx,api]'`` runs without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.batching import TokenSequence, plan_batches
from rag.embedding.pplx_tokens import MAX_TOKENS, PplxModel, load_tokens, read_json
from rag.errors import EmbeddingError, ModelLoadError
from rag.types import Float32Array

ONNX_EXTRA_HINT = "install the ONNX runtime with: pip install 'pplx-rag[onnx]'"
ONNX_PATH = Path("onnx") / "model.onnx"
# Written by the exporter beside the graph: the source checkpoint's name and revision, so that an
# exported folder without the safetensors has the checkpoint's own fingerprint.
SOURCE_FILE = Path("onnx") / "source.json"
HIDDEN, POOLED = "last_hidden_state", "pooler_output"


def has_onnx_model(folder: Path) -> bool:
    return (folder / ONNX_PATH).is_file()


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - the test environment has onnxruntime
        raise ImportError(f"RAG_RUNTIME=onnx needs onnxruntime; {ONNX_EXTRA_HINT}") from exc
    return onnxruntime


@dataclass
class OnnxCheckpoint(PplxModel):
    """A pplx folder's tokens plus an ONNX Runtime session of its graph."""

    session: Any = None  # onnxruntime.InferenceSession

    def pool(self, sequences: Sequence[TokenSequence], *, max_batch_tokens: int) -> Float32Array:
        pooled: list[Float32Array] = [np.zeros((0, self.hidden_size), np.float32)] * len(sequences)
        for batch in plan_batches([len(seq.ids) for seq in sequences], max_batch_tokens):
            members = [sequences[i] for i in batch]
            hidden, means = self._forward(members)
            for row, (index, seq) in enumerate(zip(batch, members, strict=True)):
                if seq.spans is None:
                    pooled[index] = means[row : row + 1]
                else:
                    pooled[index] = span_means(hidden[row], seq.spans)
        if not pooled:
            return np.zeros((0, self.hidden_size), dtype=np.float32)
        return np.concatenate(pooled).astype(np.float32, copy=False)

    def _forward(self, members: Sequence[TokenSequence]) -> tuple[Any, Float32Array]:
        """(hidden (B, S, D) or None, pooled (B, D)) of right-padded ``members``; the hidden states
        only come back when a member has spans (they are B·S·D floats to copy out)."""
        ids, mask = pad(members, self.pad_id)
        spans = any(seq.spans is not None for seq in members)
        outputs = [HIDDEN, POOLED] if spans else [POOLED]
        try:
            values = self.session.run(outputs, {"input_ids": ids, "attention_mask": mask})
        except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidArgument)
            raise EmbeddingError(f"the ONNX Runtime forward pass failed: {exc}") from None
        return (values[0] if spans else None), np.asarray(values[-1], dtype=np.float32)


def pad(members: Sequence[TokenSequence], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded ids (B, S) int64 and mask (B, S) int64; an empty text keeps one masked pad."""
    width = max(1, max(len(seq.ids) for seq in members))
    ids = np.full((len(members), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(members), width), dtype=np.int64)
    for row, seq in enumerate(members):
        ids[row, : len(seq.ids)] = seq.ids
        mask[row, : len(seq.ids)] = 1
    return ids, mask


def span_means(hidden: np.ndarray, spans: list[tuple[int, int]]) -> Float32Array:
    """Means of ``hidden`` (S, D) over half-open spans -> (len(spans), D) float32; empty spans give 0."""
    rows = np.zeros((len(spans), hidden.shape[-1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        if end > start:
            rows[row] = hidden[start:end].astype(np.float32).mean(axis=0)
    return rows


def load_onnx_checkpoint(folder: Path, *, threads: int, max_length: int = MAX_TOKENS) -> OnnxCheckpoint:
    """The tokens of ``folder`` and a CPU session of its ``onnx/model.onnx``."""
    if not has_onnx_model(folder):
        raise ModelLoadError(
            f"{folder} has no {ONNX_PATH} (RAG_RUNTIME=onnx); write one with `rag export-onnx {folder} OUT` "
            "or use RAG_RUNTIME=torch."
        )
    tokens = load_tokens(folder, max_length)
    ort = _import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(
            str(folder / ONNX_PATH), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # a corrupt or foreign graph fails inside onnxruntime in many ways
        raise ModelLoadError(f"cannot load {folder / ONNX_PATH}: {exc}") from None
    names = {output.name for output in session.get_outputs()}
    if not {HIDDEN, POOLED} <= names:
        raise ModelLoadError(f"{folder / ONNX_PATH} lacks the outputs {HIDDEN} and {POOLED}.")
    return OnnxCheckpoint(**tokens.as_fields(), session=session)


def recorded_source(folder: Path) -> tuple[str, str] | None:
    """The (name, revision) of the checkpoint ``rag export-onnx`` wrote ``folder`` from, if it did."""
    data = read_json(folder / SOURCE_FILE)
    name, revision = data.get("name"), data.get("revision")
    return (name, revision) if isinstance(name, str) and isinstance(revision, str) else None

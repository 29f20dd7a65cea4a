"""A mean-pooled transformer encoder from a local folder (any BERT-like model), e.g. all-MiniLM-L6-v2.

Two document modes: ``isolated`` embeds each chunk alone (as sentence-transformers would), and
``contextual`` does late chunking: the document's chunk tokens are laid end to end in windows of the
model's length (``[CLS] chunk tokens ... [SEP]``, windows cut at chunk boundaries), one forward per
window, each chunk mean-pooled over its own token span. Vectors are L2-normalised when the folder's
modules.json has a Normalize step. The int8 scale is calibrated once on ``CALIBRATION_TEXTS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.base import Embedder
from rag.embedding.batching import TokenSequence, plan_windows
from rag.embedding.calibration import CALIBRATION_TEXTS
from rag.embedding.pplx import check_dimensions
from rag.embedding.pplx_tokens import read_json
from rag.embedding.torch_runtime import import_transformers, pool_sequences, quiet_loading
from rag.errors import EmbeddingError, ModelLoadError
from rag.fingerprint import EmbedderFingerprint
from rag.quantization import calibrate_scale, quantize_scaled, truncate
from rag.types import DocumentMode, Embeddings, Float32Array

# Significant digits kept of the calibrated scale: coarse enough that thread counts or BLAS builds
# (last-bit differences) cannot change the recorded value, fine enough to use the int8 range.
SCALE_DIGITS = 2


class EncoderEmbedder(Embedder):
    """Mean pooling over a transformers encoder, quantized with one calibrated int8 scale."""

    def __init__(
        self,
        folder: Path,
        *,
        name: str,
        revision: str,
        document_mode: DocumentMode = DocumentMode.AUTO,
        dimensions: int | None = None,
        max_batch_tokens: int = 16384,
        device: str = "cpu",
        dtype: Any = None,
    ) -> None:
        self.name, self.revision, self.device = name, revision, device
        self.max_batch_tokens = max_batch_tokens
        # auto: isolated; on MiniLM/COVID-QA late chunking lowered answer_hit@10 from 0.66 to 0.58.
        mode = DocumentMode.parse(document_mode)
        self.document_mode = DocumentMode.ISOLATED if mode is DocumentMode.AUTO else mode
        self.tokenizer, self.model = _load(folder, device, dtype)
        self.normalize = _has_normalize(folder)
        self.window = _window_length(self.model.config, self.tokenizer)
        self.max_length = int(
            read_json(folder / "sentence_bert_config.json").get("max_seq_length", self.window)
        )
        self.prefix = [self.tokenizer.cls_token_id] if self.tokenizer.cls_token_id is not None else []
        self.suffix = [self.tokenizer.sep_token_id] if self.tokenizer.sep_token_id is not None else []
        self._dimensions = check_dimensions(dimensions, int(self.model.config.hidden_size))
        self.scale = round_significant(calibrate_scale(self._embed_floats(CALIBRATION_TEXTS)))

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return EmbedderFingerprint.of_model(
            self.name,
            self.revision,
            dimensions=self._dimensions,
            quantization=f"scaled-int8:{self.scale:g}",
            document_mode=self.document_mode,
        )

    @property
    def max_input_tokens(self) -> int:
        """``max_seq_length`` of the sentence-transformers config (256 for all-MiniLM-L6-v2): what
        ``_embed_floats`` cuts each text to, special tokens included."""
        return self.max_length

    def count_truncated(self, documents: Sequence[Sequence[str]]) -> list[int]:
        """Isolated: chunks over ``max_length`` (the tokenizer cuts them). Contextual: chunks longer than
        a whole late-chunking window (``_late_chunks`` cuts them)."""
        if self.document_mode is DocumentMode.ISOLATED:
            return super().count_truncated(documents)
        budget = self._window_budget()
        return [
            sum(len(ids) > budget for ids in self._token_ids(chunks, special=False)) for chunks in documents
        ]

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        return quantize_scaled(self._embed_floats(texts), self.scale, keep_floats=with_floats)

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        counts = [len(chunks) for chunks in documents]
        if self.document_mode is DocumentMode.ISOLATED:
            pooled = self._embed_floats([chunk for chunks in documents for chunk in chunks])
        else:
            sequences = [seq for chunks in documents for seq in self._late_chunks(list(chunks))]
            pooled = self._finish(self._pool(sequences))
        bounds = np.cumsum([0, *counts])
        return [
            quantize_scaled(pooled[start:stop], self.scale, keep_floats=with_floats)
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text with the tokenizer's special tokens ([CLS], [SEP]), as ``embed_queries``
        feeds it, but not cut at ``max_length``: limits must see the whole text."""
        return [len(ids) for ids in self._token_ids(texts, special=True)]

    def count_document_tokens(self, documents: Sequence[Sequence[str]]) -> list[int]:
        """Tokens of each document as ``embed_documents`` feeds it: isolated, each chunk's own count;
        contextual, the chunks' tokens plus the special tokens once per late-chunking window."""
        if self.document_mode is DocumentMode.ISOLATED:
            return [sum(self.count_tokens(chunks)) for chunks in documents]
        return [self._late_chunk_tokens(chunks) for chunks in documents]

    def _late_chunk_tokens(self, chunks: Sequence[str]) -> int:
        """Tokens of the windows ``_late_chunks`` lays out (a chunk longer than a window counts whole)."""
        lengths = [len(ids) for ids in self._token_ids(chunks, special=False)]
        windows = plan_windows(lengths, self._window_budget(), overhead=0, separator_tokens=0)
        return sum(lengths) + len(windows) * (len(self.prefix) + len(self.suffix))

    def _token_ids(self, texts: Sequence[str], *, special: bool) -> list[list[int]]:
        """Untruncated token ids of each text, with or without the tokenizer's special tokens."""
        if not texts:
            return []
        # verbose=False: a text longer than the model is expected here (it is measured, then cut or
        # windowed), not a mistake to warn about.
        encoded = self.tokenizer(list(texts), add_special_tokens=special, verbose=False)["input_ids"]
        return [list(ids) for ids in encoded]

    def _window_budget(self) -> int:
        """Chunk tokens one late-chunking window holds besides its prefix and suffix."""
        return self.window - len(self.prefix) - len(self.suffix)

    def _embed_floats(self, texts: Sequence[str]) -> Float32Array:
        """Pooled (normalised, sliced) float32 vectors (n, d) of independent texts."""
        if not texts:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return self._finish(self._pool([TokenSequence(list(ids)) for ids in encoded]))

    def _late_chunks(self, chunks: list[str]) -> list[TokenSequence]:
        """Windows of whole chunks, ``prefix + tokens + suffix``, with each chunk's span."""
        if not chunks:
            return []
        tokens = self._token_ids(chunks, special=False)
        budget = self._window_budget()
        sequences = []
        for window in plan_windows([len(t) for t in tokens], budget, overhead=0, separator_tokens=0):
            ids, spans = list(self.prefix), []
            for index in window:
                # A chunk longer than a whole window is cut to fit (the chunker keeps them far shorter).
                piece = list(tokens[index])[: budget - (len(ids) - len(self.prefix))]
                spans.append((len(ids), len(ids) + len(piece)))
                ids.extend(piece)
            sequences.append(TokenSequence(ids + self.suffix, spans))
        return sequences

    def _pool(self, sequences: list[TokenSequence]) -> Float32Array:
        width = int(self.model.config.hidden_size)
        if not sequences:
            return np.zeros((0, width), dtype=np.float32)

        def forward(ids: Any, mask: Any) -> Any:
            return self.model(input_ids=ids, attention_mask=mask).last_hidden_state

        try:
            return pool_sequences(
                forward,
                sequences,
                pad_id=int(self.tokenizer.pad_token_id or 0),
                max_batch_tokens=self.max_batch_tokens,
                device=self.device,
            )
        except RuntimeError as exc:
            raise EmbeddingError(f"the encoder forward pass failed: {exc}") from exc

    def _finish(self, pooled: Float32Array) -> Float32Array:
        if self.normalize and len(pooled):
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = np.where(norms > 0, pooled / np.maximum(norms, 1e-12), pooled).astype(np.float32)
        return np.asarray(truncate(pooled, self._dimensions), dtype=np.float32)


def round_significant(value: float, digits: int = SCALE_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits."""
    return float(f"{value:.{digits}g}")


def _load(folder: Path, device: str, dtype: Any) -> tuple[Any, Any]:
    transformers = import_transformers()
    try:
        with quiet_loading():
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
    except Exception as exc:  # unknown layouts fail in many ways inside transformers; all mean "not loadable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot load an encoder from {folder}: {reason}") from None
    return tokenizer, model.to(device).eval()


def _has_normalize(folder: Path) -> bool:
    modules = (folder / "modules.json").read_text() if (folder / "modules.json").is_file() else ""
    return "sentence_transformers.models.Normalize" in modules


def _window_length(config: Any, tokenizer: Any) -> int:
    """Tokens one forward can take: the position table, capped by the tokenizer's own limit."""
    positions = int(getattr(config, "max_position_embeddings", 512))
    limit = int(getattr(tokenizer, "model_max_length", positions) or positions)
    return min(positions, limit) if limit < 10**6 else positions

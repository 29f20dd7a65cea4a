"""The local pplx-embed backend: pplx-embed-v1 (independent texts) and pplx-embed-context-v1 (late chunking).

Pipeline (EMBEDDINGS.md sections 4-6): tokenize with the shipped tokenizer.json (default special
tokens, nothing added by hand), one bidirectional forward, mean pooling (over every token for v1,
over each chunk's span for the context model), Matryoshka prefix slice, then ``round(tanh(x)·127)``
int8 codes and ``x >= 0`` sign bits. ``floats`` are the pooled vectors before tanh.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.embedding.base import Embedder
from rag.embedding.batching import TokenSequence, chunk_spans, plan_windows
from rag.embedding.pplx_tokens import PplxModel
from rag.errors import ConfigError, EmbeddingError, SeparatorInChunkError
from rag.fingerprint import EmbedderFingerprint
from rag.quantization import quantize_tanh, truncate
from rag.types import DocumentMode, Embeddings, Float32Array

QUANTIZATION = "tanh-int8"


class PplxEmbedder(Embedder):
    """pplx-embed-v1 or pplx-embed-context-v1 running locally, in torch (``torch_pplx.PplxCheckpoint``)
    or ONNX Runtime (``onnx_pplx.OnnxCheckpoint``): the runtime only runs forwards and pools; the
    tokens, spans and windows are planned here, once for both."""

    def __init__(
        self,
        checkpoint: PplxModel,
        *,
        name: str,
        revision: str,
        document_mode: DocumentMode = DocumentMode.AUTO,
        dimensions: int | None = None,
        max_batch_tokens: int = 16384,
        device: str = "cpu",
    ) -> None:
        self.checkpoint = checkpoint
        self.name, self.revision, self.device = name, revision, device
        self.max_batch_tokens = max_batch_tokens
        self.document_mode = _document_mode(document_mode, checkpoint.contextual)
        self._dimensions = check_dimensions(dimensions, checkpoint.hidden_size)

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return EmbedderFingerprint.of_model(
            self.name,
            self.revision,
            dimensions=self._dimensions,
            quantization=QUANTIZATION,
            document_mode=self.document_mode,
        )

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        """One row per text. A context model embeds each query as the one-chunk document ``[[q]]``."""
        if self.checkpoint.contextual:
            sequences = [self._window([text]) for text in self._checked(texts)]
        else:
            sequences = self._independent(texts)
        return self._quantize(self._pool(sequences), with_floats)

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        """One ``Embeddings`` per document, one row per chunk (an empty chunk gives a zero row)."""
        sequences: list[TokenSequence] = []
        counts: list[int] = []
        for chunks in documents:
            parts = self._document_sequences(list(chunks))
            sequences.extend(parts)
            counts.append(sum(part.rows for part in parts))
        pooled = self._pool(sequences)
        bounds = np.cumsum([0, *counts])
        return [
            self._quantize(pooled[start:stop], with_floats)
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    @property
    def max_input_tokens(self) -> int:
        """The checkpoint's window (32k tokens, or its position table if shorter)."""
        return int(self.checkpoint.max_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text with the tokenizer's special tokens, as ``embed_queries`` feeds it (a
        context model's one-chunk document ``[[q]]`` joins to the text itself), before truncation."""
        return self._lengths(texts)

    def count_document_tokens(self, documents: Sequence[Sequence[str]]) -> list[int]:
        """Tokens of each document as ``embed_documents`` feeds it: contextual, the chunks joined by the
        separator and tokenized once (separators and special tokens included); isolated, each chunk's
        own count. Long documents count whole, not as the windows a too-long one is split into."""
        if self.document_mode is DocumentMode.ISOLATED:
            return [sum(self._lengths(chunks)) for chunks in documents]
        joined = self._lengths([self.checkpoint.separator.join(chunks) for chunks in documents])
        # An empty document is not fed at all, though the tokenizer would add its special tokens.
        return [count if chunks else 0 for count, chunks in zip(joined, documents, strict=True)]

    def _lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts with default special tokens, from the tokenizer that never truncates."""
        return [len(e.ids) for e in self.checkpoint.tokenizer.encode_batch(list(texts))]

    def _document_sequences(self, chunks: list[str]) -> list[TokenSequence]:
        if not chunks:
            return []
        if self.document_mode is DocumentMode.ISOLATED:
            if self.checkpoint.contextual:
                return [self._window([chunk]) for chunk in self._checked(chunks)]
            return self._independent(chunks)
        self._checked(chunks)
        whole = self._window(chunks, fit=False)
        if len(whole.ids) <= self.checkpoint.max_length:
            return [whole]
        # Too long for one forward: windows of whole chunks, each embedded with its window as context.
        lengths = [
            len(e.ids) for e in self.checkpoint.tokenizer.encode_batch(chunks, add_special_tokens=False)
        ]
        windows = plan_windows(lengths, self.checkpoint.max_length, self.checkpoint.special_tokens)
        return [self._window([chunks[i] for i in window]) for window in windows]

    def _window(self, chunks: list[str], *, fit: bool = True) -> TokenSequence:
        """The chunks joined by the separator as one sequence, with each chunk's span."""
        tokenizer = self.checkpoint.truncating if fit else self.checkpoint.tokenizer
        ids = list(tokenizer.encode(self.checkpoint.separator.join(chunks)).ids)
        try:
            spans = chunk_spans(ids, self.checkpoint.separator_id, len(chunks))
        except ValueError as exc:
            raise EmbeddingError(f"late chunking lost chunks: {exc}") from None
        return TokenSequence(ids, spans)

    def _independent(self, texts: Sequence[str]) -> list[TokenSequence]:
        encodings = self.checkpoint.truncating.encode_batch(list(texts))
        return [TokenSequence(list(e.ids)) for e in encodings]

    def _checked(self, chunks: Sequence[str]) -> Sequence[str]:
        """``chunks``, unless one holds the separator text (it would split that chunk in two)."""
        separator = self.checkpoint.separator
        for index, chunk in enumerate(chunks):
            if separator in chunk:
                raise SeparatorInChunkError(
                    f"chunk {index} contains the separator text {separator!r}, which the context model "
                    "reserves for chunk boundaries; remove it from the text."
                )
        return chunks

    def _pool(self, sequences: list[TokenSequence]) -> Float32Array:
        if not sequences:
            return np.zeros((0, self.checkpoint.hidden_size), dtype=np.float32)
        try:
            return self.checkpoint.pool(sequences, max_batch_tokens=self.max_batch_tokens)
        except RuntimeError as exc:
            raise EmbeddingError(f"the pplx-embed forward pass failed: {exc}") from exc

    def _quantize(self, pooled: Float32Array, with_floats: bool) -> Embeddings:
        return quantize_tanh(truncate(pooled, self._dimensions), keep_floats=with_floats)


def _document_mode(mode: DocumentMode, contextual: bool) -> DocumentMode:
    """auto: contextual for a context model, isolated for pplx-embed-v1 (it has no late chunking)."""
    mode = DocumentMode.parse(mode)
    if mode is DocumentMode.AUTO:
        return DocumentMode.CONTEXTUAL if contextual else DocumentMode.ISOLATED
    if mode is DocumentMode.CONTEXTUAL and not contextual:
        raise ConfigError(
            "document_mode 'contextual' needs a pplx-embed-context model as the document model; "
            "pplx-embed-v1 embeds each chunk alone (use document_mode auto or isolated)."
        )
    return mode


def check_dimensions(dimensions: int | None, width: int) -> int:
    """The Matryoshka width: ``width`` when None, else a multiple of 8 in 8..width (sign bits pack by 8)."""
    if dimensions is None:
        return width
    if not 8 <= dimensions <= width or dimensions % 8:
        raise ConfigError(f"dimensions must be a multiple of 8 between 8 and {width}, got {dimensions}.")
    return dimensions

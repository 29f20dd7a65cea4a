"""Pure rules of the hosted backend: the hosted API's limits, token counting, and request packing.

The limits are the hosted API's (EMBEDDINGS.md section 7): ``/v1/embeddings`` takes up to 512 inputs
and 120,000 tokens per request, 32,000 per input; ``/v1/contextualizedembeddings`` up to 512 documents,
16,000 chunks and 120,000 tokens per request, 32,000 per document. Documents over the per-document limit
are windowed at chunk boundaries by the same ``plan_windows`` as the local backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_INPUTS = 512
MAX_CHUNKS = 16_000
MAX_TOKENS_PER_INPUT = 32_000
MAX_TOKENS_PER_REQUEST = 120_000
# Special tokens the estimate allows per text (the Qwen tokenizer adds none; this bounds BERT's two).
ESTIMATE_SPECIAL_TOKENS = 2


@dataclass(frozen=True)
class TokenCounter:
    """Token counts for the hosted limits: exact with the model's ``tokenizer.json`` when one is at hand,
    else a conservative estimate: the UTF-8 byte count (a byte-level BPE token covers at least one byte)
    plus ``ESTIMATE_SPECIAL_TOKENS`` per text. The estimate only makes requests smaller than needed."""

    tokenizer: Any = None  # tokenizers.Tokenizer without truncation, or None for the estimate

    @property
    def exact(self) -> bool:
        return self.tokenizer is not None

    @property
    def special_tokens(self) -> int:
        if self.tokenizer is None:
            return ESTIMATE_SPECIAL_TOKENS
        processor = self.tokenizer.post_processor
        return int(processor.num_special_tokens_to_add(False)) if processor is not None else 0

    def texts(self, texts: Sequence[str], *, special: bool = True) -> list[int]:
        """Tokens per text, with the tokenizer's special tokens when ``special``."""
        if self.tokenizer is None:
            extra = ESTIMATE_SPECIAL_TOKENS if special else 0
            return [len(text.encode("utf-8")) + extra for text in texts]
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=special)
        return [len(encoding.ids) for encoding in encodings]

    def document(self, chunks: Sequence[str]) -> int:
        """Tokens of a document as the context model reads it: the chunks and one separator between each."""
        if not chunks:
            return 0
        return sum(self.texts(chunks, special=False)) + len(chunks) - 1 + self.special_tokens


def load_counter(tokenizer_json: Path | None) -> TokenCounter:
    """An exact counter from ``tokenizer_json`` when it exists, else the estimate."""
    if tokenizer_json is None or not tokenizer_json.is_file():
        return TokenCounter()
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return TokenCounter(tokenizer)


def pack(
    units: Sequence[tuple[int, int]], *, max_units: int, max_chunks: int, max_tokens: int
) -> list[range]:
    """Consecutive runs of ``units`` (each ``(chunks, tokens)``) whose sums stay within the limits, in
    order; greedy, so each request is as full as the limits allow. A unit over a limit alone gets a
    request of its own (the caller refuses such units first)."""
    requests: list[range] = []
    start, chunks, tokens = 0, 0, 0
    for index, (unit_chunks, unit_tokens) in enumerate(units):
        full = (
            index - start + 1 > max_units
            or chunks + unit_chunks > max_chunks
            or tokens + unit_tokens > max_tokens
        )
        if full and index > start:
            requests.append(range(start, index))
            start, chunks, tokens = index, 0, 0
        chunks, tokens = chunks + unit_chunks, tokens + unit_tokens
    if units:
        requests.append(range(start, len(units)))
    return requests

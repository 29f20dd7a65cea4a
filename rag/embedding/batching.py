"""Pure helpers of the local backends: token-budget batching, late-chunking spans, long-document windows.

No torch here, so the rules are tested on plain lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenSequence:
    """One forward input: token ids, and the chunk spans to pool (None: mean over every token)."""

    ids: list[int]
    spans: list[tuple[int, int]] | None = None

    @property
    def rows(self) -> int:
        return 1 if self.spans is None else len(self.spans)


def plan_batches(lengths: Sequence[int], max_batch_tokens: int) -> list[list[int]]:
    """Group sequence indices into batches whose padded size stays within ``max_batch_tokens``.

    Sequences are sorted by length (length bucketing: neighbours pad little), then cut greedily so
    that ``len(batch) * longest_in_batch <= max_batch_tokens``. A sequence longer than the budget
    gets a batch of its own. Every index appears exactly once; batches are returned longest first.
    """
    if max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens must be positive, got {max_batch_tokens}.")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        if current and (len(current) + 1) * longest > max_batch_tokens:
            batches.append(current)
            current = []
        if not current:
            # Sorted longest first, so a batch's first member sets its padded width.
            longest = max(1, lengths[index])
        current.append(index)
    if current:
        batches.append(current)
    return batches


def chunk_spans(ids: Sequence[int], sep_id: int, n_chunks: int) -> list[tuple[int, int]]:
    """Token spans [start, end) of the ``n_chunks`` chunks of one unpadded contextual sequence.

    The robust rule of EMBEDDINGS.md section 5: boundaries are the start, every separator and the
    end; chunk j is the tokens strictly between boundary j and j+1; the first ``n_chunks`` spans are
    kept. So a trailing EOS (same id as the separator) adds an empty span that is dropped, and
    separators are never pooled. Raises ValueError when there are fewer spans than chunks.
    """
    seps = [pos for pos, token in enumerate(ids) if token == sep_id]
    starts = [0] + [pos + 1 for pos in seps]
    ends = seps + [len(ids)]
    spans = list(zip(starts, ends, strict=True))
    if len(spans) < n_chunks:
        raise ValueError(f"found {len(spans)} chunk spans for {n_chunks} chunks.")
    return spans[:n_chunks]


def plan_windows(
    chunk_tokens: Sequence[int], max_tokens: int, overhead: int, separator_tokens: int = 1
) -> list[range]:
    """Split a document's chunks, in order, into windows that fit ``max_tokens`` when joined.

    A window of chunks c_i..c_j costs ``sum(tokens) + (j - i) * separator_tokens + overhead``
    (``overhead``: the special tokens the tokenizer adds to a text). Windows are cut greedily at
    chunk boundaries (a chunk is never split); a chunk too long on its own gets a window of its own
    and is truncated by the caller.
    Returns ranges of chunk indices covering every chunk once, in order.
    """
    windows: list[range] = []
    start, cost = 0, overhead
    for index, tokens in enumerate(chunk_tokens):
        extra = tokens + (separator_tokens if index > start else 0)
        if index > start and cost + extra > max_tokens:
            windows.append(range(start, index))
            start, extra, cost = index, tokens, overhead
        cost += extra
    if chunk_tokens:
        windows.append(range(start, len(chunk_tokens)))
    return windows

"""Token-aware, structure-aware chunking (pure: strings in, ``ChunkRecord``s out).

The text is cut only where it has to be, at the strongest boundary available: before a Markdown heading,
then between paragraphs, lines, sentences, words, and only as a last resort between tokens. A span that
fits in ``max_tokens`` is never cut further; neighbouring pieces are packed together up to
``target_tokens``, and when a chunk must end, it ends at the strongest boundary that still leaves it at
least half the target.

Guarantees (checked by property tests): chunks are in order and do not overlap; only whitespace lies
between them; ``text[chunk.char_start:chunk.char_end] == chunk.text``; every chunk has at most
``max_tokens`` tokens (``token_count`` is exact); no chunk is empty or starts or ends with whitespace.
Special-token text such as ``<|endoftext|>`` is counted as ordinary text, never refused.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rag.fingerprint import ChunkerFingerprint
from rag.types import ChunkRecord

# Bump when a change to this module can move chunk boundaries: it is part of the collection fingerprint.
CHUNKER_VERSION = 1

HEADING, PARAGRAPH, LINE, SENTENCE, WORD, TOKEN = range(6)
_CHARS_PER_TOKEN_CEILING = 12  # English averages about 4 characters per cl100k token

# Each pattern matches the start of the next unit at its level (whitespace stays with the unit before).
# A fenced code block: from a line opening with ``` or ~~~ to the line closing it (or the end of the text).
_FENCE = re.compile(r"(?ms)^[ \t]*(`{3,}|~{3,}).*?(?:^[ \t]*\1[^\n]*$|\Z)")
_BOUNDARIES: dict[int, re.Pattern[str]] = {
    HEADING: re.compile(r"(?m)^(?=#{1,6}[ \t])"),
    PARAGRAPH: re.compile(r"\n[ \t]*\n\s*"),
    LINE: re.compile(r"\n\s*"),
    SENTENCE: re.compile(r"(?:[.!?;:]['\")\]]*\s+|[。！？；]\s*)"),
}


class Encoding(Protocol):
    """The part of ``tiktoken.Encoding`` the chunker uses."""

    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...

    def decode_bytes(self, tokens: Sequence[int]) -> bytes: ...


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    level: int  # strength of the boundary before this piece (lower is stronger)
    tokens: int


def chunker_fingerprint(encoding_name: str, *, target_tokens: int, max_tokens: int) -> ChunkerFingerprint:
    """What a collection records about the chunker that built it."""
    return ChunkerFingerprint(encoding_name, target_tokens, max_tokens, CHUNKER_VERSION)


def count_tokens(text: str, encoding: Encoding) -> int:
    """Tokens in ``text``; special-token text counts as ordinary text."""
    return len(encoding.encode(text, disallowed_special=()))


def chunk_text(
    text: str,
    encoding: Encoding,
    *,
    target_tokens: int,
    max_tokens: int,
    pages: Sequence[tuple[int, int]] | None = None,
) -> list[ChunkRecord]:
    """Cut ``text`` into chunks of about ``target_tokens`` and at most ``max_tokens`` tokens.

    ``pages`` lists ``(page_number, char_start)`` in order of ``char_start``; a chunk gets the page its
    first character lies on. Whitespace-only text gives no chunks.
    """
    if not 8 <= target_tokens <= max_tokens:
        raise ValueError(f"need 8 <= target_tokens <= max_tokens, got {target_tokens} and {max_tokens}.")
    chunker = _Chunker(text, encoding, target_tokens, max_tokens)
    spans = chunker.pack(chunker.split(0, len(text), HEADING, HEADING))
    page_of = _page_lookup(pages)
    return [
        ChunkRecord(ordinal, text[start:end], start, end, tokens, page_of(start))
        for ordinal, (start, end, tokens) in enumerate(spans)
    ]


class _Chunker:
    def __init__(self, text: str, encoding: Encoding, target: int, maximum: int) -> None:
        self.text = text
        self.encoding = encoding
        self.target = target
        self.maximum = maximum
        # A "# comment" line inside a fenced code block is not a heading.
        self.fences = (
            [(m.start(), m.end()) for m in _FENCE.finditer(text)] if "```" in text or "~~~" in text else []
        )

    def count(self, start: int, end: int) -> int:
        return count_tokens(self.text[start:end], self.encoding)

    def split(self, start: int, end: int, level: int, before: int) -> list[_Piece]:
        """Pieces tiling [start, end), each within ``maximum`` tokens, cut at ``level`` or finer."""
        # Counting is most of the chunker's cost: a span this long in chars is cut without counting it
        # (it nearly always has too many tokens, and cutting one that fits only moves a boundary).
        if end - start <= self.maximum * _CHARS_PER_TOKEN_CEILING:
            tokens = self.count(start, end)
            if tokens <= self.maximum:
                return [_Piece(start, end, before, tokens)]
        if level == WORD:
            return self.hard_cut(start, end, before, at_words=True)
        pieces: list[_Piece] = []
        for index, (sub_start, sub_end) in enumerate(self.units(start, end, level)):
            pieces += self.split(sub_start, sub_end, level + 1, before if index == 0 else level)
        return pieces

    def units(self, start: int, end: int, level: int) -> list[tuple[int, int]]:
        """[start, end) cut before each unit of ``level`` (no empty units)."""
        cuts = [start]
        for match in _BOUNDARIES[level].finditer(self.text, start, end):
            if cuts[-1] < match.end() < end and not (level == HEADING and self.in_fence(match.end())):
                cuts.append(match.end())
        cuts.append(end)
        return list(zip(cuts, cuts[1:], strict=False))

    def in_fence(self, position: int) -> bool:
        index = bisect.bisect_right(self.fences, (position, len(self.text))) - 1
        return index >= 0 and self.fences[index][0] < position < self.fences[index][1]

    def hard_cut(self, start: int, end: int, before: int, *, at_words: bool = False) -> list[_Piece]:
        """Whitespace-trimmed windows of about ``target`` tokens, ending after a space when ``at_words``
        and one lies in the window. Each window is re-counted and shrunk until it fits: its tokens are
        not exactly the whole text's tokens, since BPE merges differently at its edges."""
        pieces: list[_Piece] = []
        start, end = self.trimmed(start, end)
        while start < end:
            # Encode a bounded prefix: re-encoding all the rest for every window would be quadratic.
            stop = min(end, start + (self.maximum + 1) * _CHARS_PER_TOKEN_CEILING)
            tokens = self.encoding.encode(self.text[start:stop], disallowed_special=())
            if stop == end and len(tokens) <= self.maximum:
                pieces.append(_Piece(start, end, before, len(tokens)))
                break
            # The first ``target`` tokens may end inside a character: cut before that character.
            head = self.encoding.decode_bytes(tokens[: self.target]).decode("utf-8", errors="ignore")
            cut = max(start + len(head), start + 1)
            if at_words:
                cut = self.after_last_space(start, cut)
            cut, window_end, count = self.fit(start, cut)
            pieces.append(_Piece(start, window_end, before, count))
            start, before = self.trimmed(cut, end)[0], WORD if at_words else TOKEN
        return pieces

    def after_last_space(self, start: int, cut: int) -> int:
        window = self.text[start:cut]
        space = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
        return start + space + 1 if space > 0 else cut

    def fit(self, start: int, cut: int) -> tuple[int, int, int]:
        """Shrink [start, cut) until its trimmed text fits; (cut, trimmed end, tokens)."""
        while True:
            window_end = self.trimmed(start, cut)[1]
            count = self.count(start, window_end)
            if count <= self.maximum or cut <= start + 1:
                return cut, window_end, count
            cut = start + max(1, (cut - start) * 9 // 10)

    def pack(self, pieces: list[_Piece]) -> list[tuple[int, int, int]]:
        """Greedy packing of consecutive pieces into (start, end, tokens) chunks, whitespace trimmed."""
        chunks: list[tuple[int, int, int]] = []
        first = 0
        while first < len(pieces):
            stop = self.natural_stop(pieces, first)
            stop = self.best_stop(pieces, first, stop)
            stop = self.emit(pieces, first, stop, chunks)
            first = stop
        return chunks

    def natural_stop(self, pieces: list[_Piece], first: int) -> int:
        """One past the last piece that keeps the running sum within ``target`` (at least one piece)."""
        total, stop = pieces[first].tokens, first + 1
        while stop < len(pieces) and total + pieces[stop].tokens <= self.target:
            total += pieces[stop].tokens
            stop += 1
        return stop

    def best_stop(self, pieces: list[_Piece], first: int, stop: int) -> int:
        """Move the end back to the strongest boundary that leaves at least half the target (on a tie,
        the latest such boundary wins)."""
        if stop >= len(pieces):
            return stop
        best, best_level = stop, pieces[stop].level
        total = sum(piece.tokens for piece in pieces[first:stop])
        for following in range(stop - 1, first, -1):
            total -= pieces[following].tokens
            if total < self.target // 2:
                break
            if pieces[following].level < best_level:
                best, best_level = following, pieces[following].level
        return best

    def emit(self, pieces: list[_Piece], first: int, stop: int, chunks: list[tuple[int, int, int]]) -> int:
        """Append pieces [first, stop) as one chunk (dropping trailing pieces until it fits); return
        the index after the last piece used."""
        while True:
            start, end = self.trimmed(pieces[first].start, pieces[stop - 1].end)
            if start == end:
                return stop
            tokens = self.count(start, end)
            if tokens <= self.maximum:
                chunks.append((start, end, tokens))
                return stop
            if stop - first > 1:
                stop -= 1
                continue
            # A lone piece that grew past the maximum when trimmed (BPE is not monotone): cut it by tokens.
            chunks += [(piece.start, piece.end, piece.tokens) for piece in self.hard_cut(start, end, TOKEN)]
            return stop

    def trimmed(self, start: int, end: int) -> tuple[int, int]:
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        return start, end


def _page_lookup(pages: Sequence[tuple[int, int]] | None) -> Callable[[int], int | None]:
    """A function from a char offset to its page number (None without pages)."""
    if not pages:
        return lambda offset: None
    starts = [start for _, start in pages]

    def page_of(offset: int) -> int | None:
        index = bisect.bisect_right(starts, offset) - 1
        return pages[max(index, 0)][0]

    return page_of

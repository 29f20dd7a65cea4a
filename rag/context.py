"""Context for prompts: hits widened by their neighbour chunks, merged per document, packed to a budget.

``pack_context`` is pure (hits, the chunks around them and a token counter in; text and citations out), so
the REST endpoint, the CLI and every client call the same packing. ``retrieve_context`` is the Python API:
one search and the reads of the hits' neighbours in ONE read snapshot, then ``pack_context``.

Packing: each hit is widened by ``neighbors`` chunks on each side in its document; windows of one document
that overlap or touch become one passage; passages go best first (their best hit's score) as numbered
blocks ``[1] title (source, page)`` + text. A passage that does not fit the budget loses its outer neighbour
chunks one at a time (never a hit, never inside the hits' span); if even that does not fit it is left out
and the next passage is tried. Candidates are costed as the sum of their blocks' tokens; the whole text
is then counted, and in the rare case that BPE merged across a boundary and the total went over
``max_tokens``, the packing is redone counting the whole text at every step. ``tokens`` is always the
exact count of ``text`` and never over ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rag.errors import InvalidInputError
from rag.search import Searcher
from rag.store.view import CollectionView
from rag.types import DEFAULT_SEARCH_MODE, ChunkRecord, Embeddings, Hit, MetadataFilter, SearchMode

TokenCounter = Callable[[str], int]
# document id -> (chunk id, chunk) pairs available around its hits (any order; the hits' own may be absent)
NeighbourChunks = Mapping[str, Sequence[tuple[int, ChunkRecord]]]

PASSAGE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Citation:
    """Passage ``[index]`` of a context: ``document.text[char_start:char_end]`` holds its chunks, in order."""

    index: int
    document_id: str
    title: str | None
    source: str | None
    page: int | None
    char_start: int
    char_end: int
    chunk_ids: list[int]
    score: float


@dataclass(frozen=True)
class Context:
    """Numbered passages ready for a prompt, what each cites, and the exact token count of ``text``."""

    text: str
    citations: list[Citation]
    tokens: int


@dataclass(frozen=True)
class _Passage:
    hit: Hit  # the best hit (document fields and score)
    rank: int  # that hit's position in the hit list
    chunks: list[tuple[int, ChunkRecord]]  # consecutive ordinals
    hit_ordinals: frozenset[int]

    def trimmed(self) -> _Passage | None:
        """The passage less one outer neighbour chunk (the end farther from a hit; the tail on a tie), or
        None when both ends are hits."""
        ordinals = [chunk.ordinal for _, chunk in self.chunks]
        head = min(self.hit_ordinals) - ordinals[0]
        tail = ordinals[-1] - max(self.hit_ordinals)
        if head == tail == 0:
            return None
        kept = self.chunks[1:] if head > tail else self.chunks[:-1]
        return _Passage(self.hit, self.rank, kept, self.hit_ordinals)


def pack_context(
    hits: Sequence[Hit],
    chunks: NeighbourChunks,
    *,
    max_tokens: int,
    count_tokens: TokenCounter,
    neighbors: int = 1,
) -> Context:
    """Numbered passages of ``hits`` (best first) widened by up to ``neighbors`` chunks of ``chunks`` on each
    side, within ``max_tokens`` tokens as ``count_tokens`` counts them."""
    _check_positive("max_tokens", max_tokens, minimum=1)
    _check_positive("neighbors", neighbors, minimum=0)
    passages = sorted(_passages(hits, chunks, neighbors), key=lambda p: (-p.hit.score, p.rank))
    fast = _pack(passages, max_tokens, count_tokens, exact=False)
    if fast.tokens <= max_tokens:
        return fast
    return _pack(passages, max_tokens, count_tokens, exact=True)  # BPE merged across a boundary: recount


def _pack(passages: list[_Passage], max_tokens: int, count_tokens: TokenCounter, *, exact: bool) -> Context:
    """Greedy packing, best passage first. ``exact`` counts the whole text for every candidate (quadratic);
    otherwise a candidate costs its own block's tokens plus a separator's, and only the result is counted
    (tokens of a concatenation nearly always add up; the caller checks and falls back to ``exact``)."""
    blocks: list[str] = []
    citations: list[Citation] = []
    separator = count_tokens(PASSAGE_SEPARATOR)
    tokens = 0
    for passage in passages:
        candidate: _Passage | None = passage
        while candidate is not None:
            block = _block(len(citations) + 1, candidate)
            if exact:
                counted = count_tokens(PASSAGE_SEPARATOR.join([*blocks, block]))
            else:
                counted = tokens + count_tokens(block) + (separator if blocks else 0)
            if counted <= max_tokens:
                blocks.append(block)
                citations.append(_citation(len(citations) + 1, candidate))
                tokens = counted
                break
            candidate = candidate.trimmed()
    text = PASSAGE_SEPARATOR.join(blocks)
    return Context(text, citations, tokens if exact else count_tokens(text))


def _passages(hits: Sequence[Hit], chunks: NeighbourChunks, neighbors: int) -> list[_Passage]:
    """Maximal runs of consecutive wanted ordinals per document, each holding at least one hit."""
    ranked: dict[str, dict[int, tuple[int, Hit]]] = {}  # document -> ordinal -> (rank, hit); first wins
    available: dict[str, dict[int, tuple[int, ChunkRecord]]] = {}
    for rank, hit in enumerate(hits):
        ranked.setdefault(hit.document_id, {}).setdefault(hit.chunk_index, (rank, hit))
        available.setdefault(hit.document_id, {})[hit.chunk_index] = (hit.chunk_id, _record(hit))
    for doc_id in ranked:
        for chunk_id, chunk in chunks.get(doc_id, ()):
            available[doc_id].setdefault(chunk.ordinal, (chunk_id, chunk))
    passages: list[_Passage] = []
    for doc_id, by_ordinal in ranked.items():
        wanted = {o for hit in by_ordinal for o in range(hit - neighbors, hit + neighbors + 1)}
        for run in _runs(sorted(wanted & available[doc_id].keys())):
            in_run = frozenset(run) & by_ordinal.keys()
            if in_run:
                rank, hit = min((by_ordinal[o] for o in in_run), key=lambda item: (-item[1].score, item[0]))
                passages.append(_Passage(hit, rank, [available[doc_id][o] for o in run], in_run))
    return passages


def _runs(ordinals: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for ordinal in ordinals:
        if runs and runs[-1][-1] + 1 == ordinal:
            runs[-1].append(ordinal)
        else:
            runs.append([ordinal])
    return runs


def _record(hit: Hit) -> ChunkRecord:
    return ChunkRecord(hit.chunk_index, hit.text, hit.char_start, hit.char_end, hit.tokens, hit.page)


def _text(chunks: Sequence[tuple[int, ChunkRecord]]) -> str:
    """The document's text over consecutive chunks. The chunker leaves only whitespace between chunks
    (not stored): a one-char gap is written as a space, a longer one as a paragraph break; chunks that
    overlap (written through the store directly) contribute only what is new."""
    parts: list[str] = []
    end: int | None = None
    for _, chunk in chunks:
        if end is None or chunk.char_start >= end:
            gap = 0 if end is None else chunk.char_start - end
            parts.append(("" if gap == 0 else " " if gap == 1 else "\n\n") + chunk.text)
        elif chunk.char_end > end:
            parts.append(chunk.text[end - chunk.char_start :])
        end = chunk.char_end if end is None else max(end, chunk.char_end)
    return "".join(parts)


def _block(index: int, passage: _Passage) -> str:
    hit = passage.hit
    first = passage.chunks[0][1]
    where = [part for part in (hit.source, None if first.page is None else f"page {first.page}") if part]
    header = f"[{index}] {hit.title or hit.document_id}" + (f" ({', '.join(where)})" if where else "")
    return f"{header}\n{_text(passage.chunks)}"


def _citation(index: int, passage: _Passage) -> Citation:
    hit = passage.hit
    records = [chunk for _, chunk in passage.chunks]
    return Citation(
        index=index,
        document_id=hit.document_id,
        title=hit.title,
        source=hit.source,
        page=records[0].page,
        char_start=min(chunk.char_start for chunk in records),
        char_end=max(chunk.char_end for chunk in records),
        chunk_ids=[chunk_id for chunk_id, _ in passage.chunks],
        score=hit.score,
    )


def _check_positive(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer of at least {minimum}, got {value!r}.")


def neighbour_chunks(
    view: CollectionView, hits: Sequence[Hit], neighbors: int
) -> dict[str, list[tuple[int, ChunkRecord]]]:
    """The chunks within ``neighbors`` ordinals of each hit, read in ``view`` (one query per run of
    overlapping windows of a document)."""
    _check_positive("neighbors", neighbors, minimum=0)
    windows: dict[str, list[tuple[int, int]]] = {}
    for hit in hits:
        windows.setdefault(hit.document_id, []).append(
            (hit.chunk_index - neighbors, hit.chunk_index + neighbors)
        )
    gathered: dict[str, list[tuple[int, ChunkRecord]]] = {}
    for doc_id, spans in windows.items():
        for first, last in _merged(spans):
            gathered.setdefault(doc_id, []).extend(view.chunk_range(doc_id, max(first, 0), last))
    return gathered


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def retrieve_context(
    searcher: Searcher,
    query: str,
    *,
    max_tokens: int,
    count_tokens: TokenCounter,
    neighbors: int = 1,
    top_k: int = 10,
    rescore_multiplier: int | None = None,
    filter: MetadataFilter | None = None,
    mode: SearchMode | str = DEFAULT_SEARCH_MODE,
    query_embedding: Embeddings | None = None,
) -> Context:
    """Search ``query`` and pack the hits with their neighbours into at most ``max_tokens`` tokens.

    The search and the neighbour reads share one read snapshot, so a concurrent write never mixes two
    versions of a document into one passage. ``query_embedding`` skips embedding (the API's batcher
    embeds); ``count_tokens`` is the prompt's tokenizer (``ingest.encoding.token_counter``).

    Example::

        context = retrieve_context(searcher, "refund policy", max_tokens=1500, count_tokens=len)
        prompt = f"Answer from these passages, citing [n]:\\n\\n{context.text}"
    """
    mode = SearchMode.parse(mode)
    _check_positive("max_tokens", max_tokens, minimum=1)
    _check_positive("neighbors", neighbors, minimum=0)
    if query_embedding is None and mode.needs_embedding:
        with_floats = mode is SearchMode.FLOAT_EXACT
        query_embedding = searcher.embedder.embed_queries([query], with_floats=with_floats)
    with searcher.collection.reading() as view:
        result = searcher.search_in(
            view,
            query,
            query_embedding,
            top_k=top_k,
            rescore_multiplier=rescore_multiplier,
            filter=filter,
            mode=mode,
        )
        around = neighbour_chunks(view, result.hits, neighbors)
    return pack_context(
        result.hits, around, max_tokens=max_tokens, count_tokens=count_tokens, neighbors=neighbors
    )

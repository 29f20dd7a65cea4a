"""``rag.context.pack_context``: properties over budgets and corpora (Hypothesis), then worked examples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.encoding import token_counter
from rag.context import Context, pack_context
from rag.errors import InvalidInputError
from rag.types import ChunkRecord, Hit

COUNT: Callable[[str], int] = token_counter("cl100k_base")
WORDS = [
    "tea",
    "coffee",
    "green",
    "steep",
    "water",
    "ninety",
    "degrees",
    "refund",
    "policy",
    "keys",
    "rotate",
]
GAPS = ["", " ", "\n", "\n\n", " \n\n  "]


def superadditive(text: str) -> int:
    """A counter whose count of a concatenation exceeds the sum of its parts' (as BPE may, rarely)."""
    return COUNT(text) + 4 * text.count("\n\n[")


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    chunks: list[tuple[int, ChunkRecord]]  # (chunk id, chunk)


def make_doc(doc_id: str, pieces: list[str], gaps: list[str], first_id: int) -> Doc:
    """A document whose chunks are ``pieces`` with ``gaps`` (whitespace) between them, as the chunker cuts."""
    text, chunks = "", []
    for ordinal, piece in enumerate(pieces):
        if ordinal:
            text += gaps[ordinal % len(gaps)]
        start = len(text)
        text += piece
        record = ChunkRecord(ordinal, piece, start, len(text), COUNT(piece), page=ordinal // 3 + 1)
        chunks.append((first_id + ordinal, record))
    return Doc(doc_id, text, chunks)


def hit_of(doc: Doc, ordinal: int, score: float) -> Hit:
    chunk_id, chunk = doc.chunks[ordinal]
    return Hit(
        chunk_id=chunk_id,
        document_id=doc.id,
        score=score,
        text=chunk.text,
        metadata={},
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        page=chunk.page,
        source=f"{doc.id}.md",
        title=doc.id.title(),
        chunk_index=chunk.ordinal,
        tokens=chunk.token_count,
    )


piece = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[Doc], list[Hit]]:
    docs, next_id = [], 1
    for number in range(draw(st.integers(1, 4))):
        pieces = draw(st.lists(piece, min_size=1, max_size=9))
        gaps = draw(st.lists(st.sampled_from(GAPS), min_size=1, max_size=4))
        docs.append(make_doc(f"doc{number}", pieces, gaps, next_id))
        next_id += len(pieces) + draw(st.integers(0, 5))
    candidates = [(n, o) for n, d in enumerate(docs) for o in range(len(d.chunks))]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=8, unique=True))
    scores = draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=len(chosen), max_size=len(chosen)))
    hits = [hit_of(docs[n], o, s) for (n, o), s in zip(chosen, scores, strict=True)]
    return docs, sorted(hits, key=lambda h: -h.score)  # best first, as a search returns them


def pack(
    docs: list[Doc], hits: list[Hit], budget: int, neighbors: int, count: Callable[[str], int] = COUNT
) -> Context:
    around = {d.id: d.chunks for d in docs}  # more than the windows: the packer must keep to them
    return pack_context(hits, around, max_tokens=budget, count_tokens=count, neighbors=neighbors)


def normalized(text: str) -> str:
    return " ".join(text.split())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=corpora(),
    budget=st.integers(1, 400),
    neighbors=st.integers(0, 3),
    count=st.sampled_from([COUNT, superadditive]),
)
def test_packing_keeps_the_budget_and_cites_disjoint_exact_spans(
    corpus: tuple[list[Doc], list[Hit]], budget: int, neighbors: int, count: Callable[[str], int]
) -> None:
    docs, hits = corpus
    context = pack(docs, hits, budget, neighbors, count)
    by_id = {d.id: d for d in docs}
    assert context.tokens == count(context.text) <= budget
    assert [c.index for c in context.citations] == list(range(1, len(context.citations) + 1))
    assert [c.score for c in context.citations] == sorted((c.score for c in context.citations), reverse=True)
    covered: dict[str, set[int]] = {}
    hit_ids = {h.chunk_id: h for h in hits}
    for citation in context.citations:
        doc = by_id[citation.document_id]
        ordinal = {chunk_id: chunk.ordinal for chunk_id, chunk in doc.chunks}
        ordinals = [ordinal[i] for i in citation.chunk_ids]
        assert ordinals == list(range(ordinals[0], ordinals[0] + len(ordinals)))  # in order, no gap
        span = doc.text[citation.char_start : citation.char_end]
        assert all(doc.chunks[o][1].text in span for o in ordinals)
        assert span.startswith(doc.chunks[ordinals[0]][1].text) and span.endswith(
            doc.chunks[ordinals[-1]][1].text
        )
        cited_hits = [hit_ids[i] for i in citation.chunk_ids if i in hit_ids]
        assert cited_hits and citation.score == max(h.score for h in cited_hits)
        assert all(min(abs(o - h.chunk_index) for h in cited_hits) <= neighbors for o in ordinals)
        chars = set(range(citation.char_start, citation.char_end))
        assert not chars & covered.get(doc.id, set()), "a character of the document is in two passages"
        covered.setdefault(doc.id, set()).update(chars)
        assert (
            f"[{citation.index}] {doc.id.title()} ({doc.id}.md, page {doc.chunks[ordinals[0]][1].page})"
            in (context.text)
        )
        assert normalized(span) in normalized(context.text)


@settings(max_examples=60, deadline=None)
@given(corpus=corpora(), neighbors=st.integers(0, 2))
def test_an_ample_budget_cites_every_hit_with_all_its_neighbours(
    corpus: tuple[list[Doc], list[Hit]], neighbors: int
) -> None:
    docs, hits = corpus
    context = pack(docs, hits, 100_000, neighbors)
    cited = {i for c in context.citations for i in c.chunk_ids}
    by_id = {d.id: d for d in docs}
    for hit in hits:
        chunks = by_id[hit.document_id].chunks
        window = chunks[max(hit.chunk_index - neighbors, 0) : hit.chunk_index + neighbors + 1]
        assert {chunk_id for chunk_id, _ in window} <= cited


def test_overlapping_and_adjacent_windows_merge_into_one_passage_ordered_by_best_hit() -> None:
    a = make_doc("a", [f"alpha {i}" for i in range(8)], ["\n\n"], 100)
    b = make_doc("b", ["beta zero", "beta one"], [" "], 200)
    hits = [hit_of(b, 1, 0.9), hit_of(a, 1, 0.8), hit_of(a, 4, 0.7)]  # a's windows [0,2] and [3,5] touch
    context = pack([a, b], hits, 10_000, 1)
    assert [(c.document_id, c.chunk_ids, c.score) for c in context.citations] == [
        ("b", [200, 201], 0.9),
        ("a", [100, 101, 102, 103, 104, 105], 0.8),
    ]
    first, second = context.text.split("\n\n[2] ")
    assert first == "[1] B (b.md, page 1)\nbeta zero beta one"
    assert second.startswith("A (a.md, page 1)\nalpha 0\n\nalpha 1\n\nalpha 2")
    assert context.citations[1].char_start == 0 and context.citations[1].char_end == a.chunks[5][1].char_end


def test_a_passage_over_budget_loses_neighbours_first_then_is_left_out() -> None:
    doc = make_doc("d", ["one two three four five six seven eight"] * 5, ["\n\n"], 1)
    hit = hit_of(doc, 2, 1.0)
    whole = pack([doc], [hit], 10_000, 2)
    assert whole.citations[0].chunk_ids == [1, 2, 3, 4, 5]
    alone = pack_context([hit], {}, max_tokens=10_000, count_tokens=COUNT, neighbors=0)
    trimmed = pack([doc], [hit], alone.tokens + 3, 2)  # room for the hit, not for a neighbour
    assert trimmed.citations[0].chunk_ids == [3] and trimmed.tokens == alone.tokens
    nothing = pack([doc], [hit], alone.tokens - 1, 2)
    assert (nothing.text, nothing.citations, nothing.tokens) == ("", [], 0)


def test_a_smaller_later_passage_still_fills_the_budget() -> None:
    big = make_doc("big", [" ".join(WORDS * 4)], [" "], 1)
    small = make_doc("small", ["tea"], [" "], 10)
    context = pack([big, small], [hit_of(big, 0, 2.0), hit_of(small, 0, 1.0)], 20, 1)
    assert [c.document_id for c in context.citations] == ["small"]
    assert context.text.startswith("[1] Small")


def test_a_total_over_the_sum_of_its_blocks_is_packed_again_counting_the_whole_text() -> None:
    docs = [make_doc(f"d{i}", ["tea leaves"], [" "], 10 * i) for i in range(3)]
    hits = [hit_of(doc, 0, 1.0 - i / 10) for i, doc in enumerate(docs)]
    additive = pack(docs, hits, 10_000, 0)
    budget = additive.tokens  # all three fit when counts add up, not with 4 more per boundary
    context = pack(docs, hits, budget, 0, superadditive)
    assert context.tokens == superadditive(context.text) <= budget
    assert len(context.citations) == 2 and len(additive.citations) == 3


@pytest.mark.parametrize(("max_tokens", "neighbors"), [(0, 1), (10, -1), (True, 1)])
def test_bad_budgets_and_neighbour_counts_are_invalid_input(max_tokens: int, neighbors: int) -> None:
    with pytest.raises(InvalidInputError):
        pack_context([], {}, max_tokens=max_tokens, count_tokens=COUNT, neighbors=neighbors)


def test_no_hits_give_an_empty_context(tmp_path: Path) -> None:
    assert pack_context([], {}, max_tokens=5, count_tokens=COUNT) == Context("", [], 0)

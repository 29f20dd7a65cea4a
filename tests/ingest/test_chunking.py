from __future__ import annotations

import re

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import CHUNKER_VERSION, chunk_text, chunker_fingerprint, count_tokens
from rag.types import ChunkRecord

WORDS = st.sampled_from(
    [
        "alpha",
        "beta",
        "Gamma",
        "déjà",
        "vu",
        "🙂",
        "東京",
        "x" * 40,
        "<|endoftext|>",
        "3.14",
        "e.g.",
        "-",
        "§",
    ]
)
SEPARATORS = st.sampled_from(
    [" ", " ", " ", ". ", "! ", "\n", "\n\n", "\n\n# ", "\n## ", "\t", "  \n \n", "。"]
)
TEXTS = st.lists(st.tuples(WORDS, SEPARATORS), max_size=400).map(
    lambda pairs: "".join(a + b for a, b in pairs)
)
SIZES = st.sampled_from([(8, 8), (8, 12), (16, 32), (40, 48), (100, 128)])


def check_invariants(text: str, chunks: list[ChunkRecord], encoding: tiktoken.Encoding, maximum: int) -> None:
    position = 0
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert chunk.token_count == count_tokens(chunk.text, encoding) <= maximum
        assert text[position : chunk.char_start].strip() == ""  # nothing but whitespace is left out
        position = chunk.char_end
    assert text[position:].strip() == ""


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, sizes=SIZES)
def test_chunks_cover_the_text_in_order_within_the_maximum(
    encoding: tiktoken.Encoding, text: str, sizes: tuple[int, int]
) -> None:
    target, maximum = sizes
    check_invariants(
        text, chunk_text(text, encoding, target_tokens=target, max_tokens=maximum), encoding, maximum
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(st.characters(exclude_categories=["Cs"]), max_size=600))
def test_any_text_keeps_the_invariants(encoding: tiktoken.Encoding, text: str) -> None:
    check_invariants(text, chunk_text(text, encoding, target_tokens=8, max_tokens=10), encoding, 10)


def test_short_text_is_one_chunk_without_surrounding_whitespace(encoding: tiktoken.Encoding) -> None:
    [chunk] = chunk_text("\n\n  Hello world.  \n", encoding, target_tokens=50, max_tokens=60)
    assert (chunk.text, chunk.char_start, chunk.char_end, chunk.page) == ("Hello world.", 4, 16, None)


def test_whitespace_only_text_has_no_chunks(encoding: tiktoken.Encoding) -> None:
    assert chunk_text(" \n\t\n ", encoding, target_tokens=50, max_tokens=60) == []
    assert chunk_text("", encoding, target_tokens=50, max_tokens=60) == []


def test_sections_start_at_markdown_headings(encoding: tiktoken.Encoding) -> None:
    section = "Sentence about the topic that goes on for a while. " * 6
    text = "".join(f"# Part {n}\n\n{section}\n\n" for n in range(4))
    chunks = chunk_text(text, encoding, target_tokens=80, max_tokens=100)
    assert [chunk.text.split("\n")[0] for chunk in chunks] == [f"# Part {n}" for n in range(4)]


def test_a_long_paragraph_is_cut_between_sentences(encoding: tiktoken.Encoding) -> None:
    text = " ".join(f"Sentence number {n} says something short." for n in range(60))
    chunks = chunk_text(text, encoding, target_tokens=40, max_tokens=50)
    assert len(chunks) > 5
    assert all(chunk.text.endswith(".") for chunk in chunks)


def test_text_without_boundaries_is_cut_by_tokens(encoding: tiktoken.Encoding) -> None:
    text = "🙂x" * 500
    chunks = chunk_text(text, encoding, target_tokens=16, max_tokens=20)
    assert "".join(chunk.text for chunk in chunks) == text
    assert max(chunk.token_count for chunk in chunks) <= 20


def test_special_token_text_is_chunked_not_refused(encoding: tiktoken.Encoding) -> None:
    [chunk] = chunk_text("before <|endoftext|> after", encoding, target_tokens=16, max_tokens=20)
    assert "<|endoftext|>" in chunk.text


def test_pages_follow_the_page_offsets(encoding: tiktoken.Encoding) -> None:
    pages_text = ["Page one text. " * 10, "Page two text. " * 10, "Page three. " * 10]
    text, pages = "", []
    for number, page in enumerate(pages_text, start=1):
        text += "\n\n" if text else ""
        pages.append((number, len(text)))
        text += page
    chunks = chunk_text(text, encoding, target_tokens=30, max_tokens=40, pages=pages)
    for chunk in chunks:
        expected = max(number for number, start in pages if start <= chunk.char_start)
        assert chunk.page == expected
    assert {chunk.page for chunk in chunks} == {1, 2, 3}


def test_target_is_what_chunks_are_packed_up_to(encoding: tiktoken.Encoding) -> None:
    text = "\n\n".join(f"Paragraph {n} has a few words." for n in range(200))
    chunks = chunk_text(text, encoding, target_tokens=64, max_tokens=128)
    sizes = [chunk.token_count for chunk in chunks[:-1]]
    assert min(sizes) >= 32 and max(sizes) <= 64 + 10


@pytest.mark.parametrize(("target", "maximum"), [(7, 16), (32, 16)])
def test_sizes_are_checked(encoding: tiktoken.Encoding, target: int, maximum: int) -> None:
    with pytest.raises(ValueError, match="target_tokens"):
        chunk_text("text", encoding, target_tokens=target, max_tokens=maximum)


def test_fingerprint_names_encoding_sizes_and_version() -> None:
    assert chunker_fingerprint("cl100k_base", target_tokens=200, max_tokens=256).to_dict() == {
        "encoding": "cl100k_base",
        "target_tokens": 200,
        "max_tokens": 256,
        "version": CHUNKER_VERSION,
    }


def test_offsets_survive_crlf_free_unicode(encoding: tiktoken.Encoding) -> None:
    text = "Ünïcödé " * 50 + "\n\n" + "東京は日本の首都です。" * 30
    chunks = chunk_text(text, encoding, target_tokens=20, max_tokens=24)
    assert all(text[c.char_start : c.char_end] == c.text for c in chunks)
    assert re.sub(r"\s", "", "".join(c.text for c in chunks)) == re.sub(r"\s", "", text)


def test_comment_lines_in_fenced_code_are_not_headings(encoding: tiktoken.Encoding) -> None:
    code = (
        "```python\n# load the data\nrows = read()\n# clean it\nrows = clean(rows)\n# save\nsave(rows)\n```"
    )
    intro = "This guide shows how the small pipeline reads, cleans and saves its rows every night. " * 2
    text = f"# Guide\n\n{intro}\n\n{code}\n\n# Next\n\n" + "Another section follows with more words. " * 8
    chunks = chunk_text(text, encoding, target_tokens=48, max_tokens=80)
    assert [c.text.split("\n")[0] for c in chunks] == ["# Guide", "# Next"]
    assert code in chunks[0].text

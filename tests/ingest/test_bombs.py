"""Decompression bombs and slow parses are capped per file: decompressed bytes before parsing a DOCX,
extracted text and parse time for DOCX and PDF (issue 15.8)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from ingest.loaders import limits, load_bytes
from tests.ingest.files import pdf_bytes, write_docx


def docx_bomb(member_bytes: int) -> bytes:
    """A small zip whose word/document.xml inflates to ``member_bytes`` (the shape of a DOCX)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<" + b" " * member_bytes)
    return buffer.getvalue()


def test_docx_bomb_is_refused_before_parsing() -> None:
    bomb = docx_bomb(limits.MAX_DECOMPRESSED_BYTES + 1)
    assert len(bomb) < limits.MAX_DECOMPRESSED_BYTES // 500  # tiny on disk
    started = time.monotonic()
    [failure] = load_bytes("bomb.docx", bomb).failures
    assert time.monotonic() - started < 5
    assert failure.reason.startswith("decompresses to ") and "over the limit" in failure.reason


def test_docx_text_over_the_cap_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_docx(tmp_path / "long.docx", heading="Long", paragraphs=["word " * 200] * 20)
    monkeypatch.setattr(limits, "MAX_TEXT_CHARS", 1000)
    [failure] = load_bytes("long.docx", (tmp_path / "long.docx").read_bytes()).failures
    assert "over the limit of 1000 characters" in failure.reason


def test_pdf_parse_past_the_time_limit_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    data = pdf_bytes(["page one text", "page two text"])
    assert load_bytes("ok.pdf", data).documents  # within the limits it reads
    monkeypatch.setattr(limits, "MAX_PARSE_SECONDS", 0.0)
    [failure] = load_bytes("slow.pdf", data).failures
    assert failure.reason == "parsing took longer than the limit of 0 s"

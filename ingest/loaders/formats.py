"""One parser per file format: bytes in, ``Parsed`` text (with title and pages) out.

Parsers raise ``UnreadableError`` with a short reason for input they cannot read; the caller reports the
file by name and goes on. Text is normalised to ``\\n`` line ends, so char offsets refer to what is stored.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ingest.loaders.documents import UnreadableError
from ingest.loaders.limits import ParseBudget, check_zip_expansion

# pypdf logs every recoverable defect of a damaged PDF at WARNING; the loader reports unreadable files
# itself, so these lines would only be noise on the terminal.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_HEADING_LINE = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SPACES = re.compile(r"[ \t\f\v\xa0]+")
_ANY_SPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_HTML_DROP = ("script", "style", "noscript", "template", "svg", "iframe", "object")
_HTML_BLOCKS = (
    "p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "li", "ul", "ol",
    "table", "tr", "pre", "blockquote", "figure", "figcaption", "dl", "dt", "dd", "hr", "form",
    "caption", "thead", "tbody", "tfoot", "details", "summary", "address", "fieldset", "legend", "menu",
    "dialog", "search",
)  # fmt: skip
# Cells of one table row stay on one line, apart: "50 euros | Photo in the expenses app | 30 days".
_HTML_CELLS = ("td", "th")
_CELL_SEPARATOR = " | "


@dataclass(frozen=True)
class Parsed:
    """A file's text, its title if the format names one, and page starts if it has pages."""

    text: str
    title: str | None = None
    pages: list[tuple[int, int]] = field(default_factory=list)


FORMATS = {
    ".txt": "text", ".text": "text", ".rst": "text", ".csv": "text", ".log": "text",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".pdf": "pdf", ".docx": "docx", ".jsonl": "jsonl", ".ndjson": "jsonl",
}  # fmt: skip


def format_of(name: str) -> str:
    """The format a file name implies; unknown extensions are tried as text."""
    return FORMATS.get(PurePosixPath(name).suffix.lower(), "text")


def decode_text(data: bytes) -> str:
    """UTF-8 (or UTF-16 with a byte-order mark) text, line ends normalised; binary data is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return normalise_newlines(data.decode("utf-16"))
        except UnicodeDecodeError:
            raise UnreadableError("not valid UTF-16 text") from None
    if b"\x00" in data[:8192]:
        raise UnreadableError("binary file (no text loader for this content)")
    try:
        return normalise_newlines(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UnreadableError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_text(data: bytes) -> Parsed:
    return Parsed(decode_text(data))


def parse_markdown(data: bytes) -> Parsed:
    text = decode_text(data)
    heading = _HEADING_LINE.search(text)
    return Parsed(text, heading.group(1).strip() if heading else None)


def parse_html(data: bytes) -> Parsed:
    """Visible text only; block elements become paragraphs and headings Markdown headings, so the
    chunker sees the page's structure."""
    from bs4 import BeautifulSoup

    if b"\x00" in data[:8192]:
        raise UnreadableError("binary file, not HTML")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bs4 warns about markup that looks like a file name or XML
        soup = BeautifulSoup(data, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    for tag in soup.find_all([*_HTML_DROP, "head"]):
        tag.decompose()
    _collapse_source_whitespace(soup)
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.insert(0, "#" * level + " ")
            heading.insert_before("\n\n")
            heading.insert_after("\n\n")
            title = title or heading.get_text(" ", strip=True).lstrip("# ")
    for cell in soup.find_all(list(_HTML_CELLS)):
        if cell.find_previous_sibling(list(_HTML_CELLS)) is not None:
            cell.insert_before(_CELL_SEPARATOR)
    for block in soup.find_all(list(_HTML_BLOCKS)):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    return Parsed(_tidy(soup.get_text()), title or None)


def _collapse_source_whitespace(soup: Any) -> None:
    """Line breaks in HTML source are spaces (outside ``<pre>``); only elements make structure."""
    from bs4.element import NavigableString

    for node in soup.find_all(string=True):
        if type(node) is NavigableString and node.find_parent("pre") is None:
            node.replace_with(_ANY_SPACE.sub(" ", str(node)))


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in normalise_newlines(text).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def parse_pdf(data: bytes) -> Parsed:
    """Each page's text, pages separated by a blank line; ``pages`` records where each starts."""
    from pypdf import PdfReader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise UnreadableError("encrypted PDF")
            budget = ParseBudget()  # time and text caps (ingest/loaders/limits.py)
            texts = [
                budget.spend(normalise_newlines(page.extract_text() or "").strip()) for page in reader.pages
            ]
            title = reader.metadata.title if reader.metadata else None
    except UnreadableError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise UnreadableError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    text, pages = "", []
    for number, page_text in enumerate(texts, start=1):
        text += "\n\n" if text else ""
        pages.append((number, len(text)))
        text += page_text
    return Parsed(text, str(title).strip() if title else None, pages)


def parse_docx(data: bytes) -> Parsed:
    """Paragraphs and tables in document order; Heading styles become Markdown headings."""
    import docx
    from docx.table import Table

    check_zip_expansion(data)  # a zip bomb is refused before parsing (ingest/loaders/limits.py)
    budget = ParseBudget()
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows]
                blocks += [budget.spend(row) for row in rows]
            else:
                style = item.style.name if item.style else ""
                blocks.append(budget.spend(_heading_prefix(style) + item.text.strip()))
        title = document.core_properties.title
    except UnreadableError:
        raise
    except Exception as exc:  # a damaged zip or XML surfaces as many different types
        raise UnreadableError(f"not a readable DOCX ({type(exc).__name__}: {exc})") from None
    text = "\n\n".join(block for block in blocks if block.strip("# "))
    heading = _HEADING_LINE.search(text)
    return Parsed(text, title or (heading.group(1).strip() if heading else None))


def _heading_prefix(style: str) -> str:
    match = re.fullmatch(r"Heading (\d)", style or "")
    if style == "Title":
        return "# "
    return "#" * min(int(match.group(1)), 6) + " " if match else ""


PARSERS = {
    "text": parse_text,
    "markdown": parse_markdown,
    "html": parse_html,
    "pdf": parse_pdf,
    "docx": parse_docx,
}

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.loaders import LoadResult, SourceDocument, discover, load_bytes, load_path, load_paths
from tests.ingest.files import pdf_bytes, write_docx


def only(result: LoadResult) -> SourceDocument:
    assert result.failures == []
    [document] = result.documents
    return document


def test_markdown_keeps_text_and_takes_the_first_heading_as_title(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_bytes(b"Intro line\r\n\r\n## Setting up\r\nSteps.")
    document = only(load_path(tmp_path / "guide.md"))
    assert document.text == "Intro line\n\n## Setting up\nSteps."
    assert (document.id, document.title) == ("guide.md", "Setting up")
    assert (document.source, document.root) == ("guide.md", str(tmp_path.resolve()))  # a named file: its name
    assert document.metadata == {"format": "markdown", "path": "guide.md"}


def test_plain_text_title_is_the_file_stem(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("\ufeffjust words", encoding="utf-8")
    document = only(load_path(tmp_path / "notes.txt"))
    assert (document.text, document.title) == ("just words", "notes")


def test_html_keeps_visible_text_and_structure_only() -> None:
    html = (
        b"<html><head><title>Page</title><style>p{color:red}</style></head><body>"
        b"<script>alert('x')</script><h2>Section</h2><p>First  <b>bold</b>\nline</p>"
        b"<ul><li>one</li><li>two</li></ul><div>a<br>b</div></body></html>"
    )
    document = only(load_bytes("page.html", html))
    assert document.title == "Page"
    assert document.text == "## Section\n\nFirst bold line\n\none\n\ntwo\n\na\nb"
    assert "alert" not in document.text and "color" not in document.text


def test_html_table_cells_list_items_and_blocks_stay_apart() -> None:
    html = (
        b"<table><caption>Claims</caption><thead><tr><th>What</th><th>How</th></tr></thead><tbody>"
        b"<tr><td>Receipts up to 50 euros</td><td>Photo in the expenses app</td><td>30 days</td></tr>"
        b"</tbody></table><ol><li>first</li><li>second</li></ol><dl><dt>term</dt><dd>meaning</dd></dl>"
        b"<details><summary>More</summary>hidden text</details>"
    )
    text = only(load_bytes("claims.html", html)).text
    assert "Receipts up to 50 euros | Photo in the expenses app | 30 days" in text
    assert "What | How" in text and "Claims\n\nWhat" in text
    assert "first\n\nsecond" in text and "term\n\nmeaning" in text and "More\n\nhidden text" in text
    assert "eurosPhoto" not in text and "app30" not in text


def test_pdf_text_has_page_offsets() -> None:
    data = pdf_bytes(["Alpha on page one.", "Beta on page two."], title="Report")
    document = only(load_bytes("report.pdf", data))
    assert document.title == "Report"
    assert document.pages == [(1, 0), (2, document.text.index("Beta"))]
    assert document.text.startswith("Alpha on page one.")


def test_docx_paragraphs_headings_and_tables(tmp_path: Path) -> None:
    write_docx(tmp_path / "memo.docx", heading="Memo", paragraphs=["First paragraph.", "Second paragraph."])
    document = only(load_path(tmp_path / "memo.docx"))
    assert document.text == "# Memo\n\nFirst paragraph.\n\nSecond paragraph.\n\ncell one | cell two"
    assert document.title == "Memo"


def test_jsonl_keeps_caller_ids_and_reports_bad_lines(tmp_path: Path) -> None:
    lines = [
        {"_id": "a1", "title": "A", "text": "alpha", "metadata": {"year": 2020}},
        {"id": 7, "text": "seven"},
        "not json",
        {"_id": "a1", "text": "duplicate"},
        {"_id": "b", "text": 3},
        {"text": "no id"},
    ]
    body = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n"
    (tmp_path / "docs.jsonl").write_text(body)
    result = load_path(tmp_path)
    assert [(d.id, d.title, d.text, d.metadata) for d in result.documents] == [
        ("a1", "A", "alpha", {"year": 2020}),
        ("7", None, "seven", {}),
        ("docs.jsonl#6", None, "no id", {}),
    ]
    failures = {(Path(f.name).name, f.reason.split(" ")[0]) for f in result.failures}
    assert failures == {
        ("docs.jsonl:3", "invalid"),
        ("docs.jsonl:4", "duplicate"),
        ("docs.jsonl:5", '"text"'),
    }


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("latin1.txt", "café".encode("latin-1"), "not valid UTF-8 (byte 0xe9 at offset 3)"),
        ("broken.docx", b"PK\x03\x04 not a zip", "not a readable DOCX"),
    ],
)
def test_unreadable_files_are_failures_named_with_a_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(data)
    (tmp_path / "fine.txt").write_text("fine")
    result = load_path(tmp_path)
    assert [d.id for d in result.documents] == ["fine.txt"]
    [failure] = result.failures
    assert failure.name == str(tmp_path / name) and reason in failure.reason
    assert failure.source == str((tmp_path / name).resolve())


def test_folders_are_walked_sorted_with_hidden_files_skipped_and_globs(tmp_path: Path) -> None:
    for relative in ["b.md", "a/z.txt", "a/y.md", ".git/config", "a/.secret.txt", "drafts/d.md"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(relative)
    assert [d.id for d in load_path(tmp_path).documents] == ["b.md", "a/y.md", "a/z.txt", "drafts/d.md"]
    chosen = load_path(tmp_path, include=["*.md"], exclude=["drafts/*"]).documents
    assert [d.id for d in chosen] == ["b.md", "a/y.md"]
    assert [p.name for p in discover(tmp_path, include=["z.txt"])] == ["z.txt"]


def test_a_missing_path_is_a_failure(tmp_path: Path) -> None:
    result = load_paths([tmp_path / "nowhere"])
    assert result.documents == [] and result.failures[0].reason == "no such file or folder"


def test_load_bytes_uses_the_upload_name_as_id_and_source() -> None:
    document = only(load_bytes("notes/today.md", b"# Today\n\nwork"))
    assert (document.id, document.source, document.title) == ("notes/today.md", "notes/today.md", "Today")


def test_an_encrypted_pdf_is_a_failure_named_as_such() -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf_bytes(["secret page"]))))
    writer.encrypt("a password")
    out = io.BytesIO()
    writer.write(out)
    result = load_bytes("locked.pdf", out.getvalue())
    assert result.documents == [] and result.failures[0].reason == "encrypted PDF"


def test_utf16_text_with_a_byte_order_mark_is_read() -> None:
    document = only(load_bytes("wide.txt", "line one\r\nline two".encode("utf-16")))
    assert document.text == "line one\nline two"

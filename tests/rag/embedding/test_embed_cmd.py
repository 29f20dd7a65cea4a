"""``rag embed`` through the real entry point (RagError -> one line and exit status)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.cli.app import app
from ingest.cli.main import main


def run(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["rag", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return int(code) if isinstance(code, int) else 1, captured.out, captured.err


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    path = tmp_path / "docs.json"
    path.write_text(json.dumps([["first chunk", "second chunk", ""], ["lone chunk"]]))
    return path


@pytest.mark.parametrize(("fmt", "width"), [("int8", 64), ("binary", 64), ("ubinary", 8)])
def test_queries_as_json(
    fmt: str, width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["embed", "one", "two words", "--model", "fake:64", "--format", fmt, "--json"], monkeypatch, capsys
    )
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "fake:64" and data["dimensions"] == 64
    rows = data["embeddings"]
    assert len(rows) == 2 and all(len(row) == width for row in rows)
    if fmt == "int8":
        assert all(-128 <= v <= 127 for row in rows for v in row)
    elif fmt == "binary":
        assert {v for row in rows for v in row} <= {-1, 1}
    else:
        assert all(0 <= v <= 255 for row in rows for v in row)


def test_documents_as_contextual_chunks(
    documents: Path,
    checkpoints: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = str(checkpoints["context"])
    args = [
        "--device",
        "cpu",
        "embed",
        "--documents",
        str(documents),
        "--model",
        model,
        "--dimensions",
        "32",
        "--json",
    ]
    code, out, _ = run(args, monkeypatch, capsys)
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "pplx-embed-context-v1-tiny" and data["dimensions"] == 32
    assert [len(doc) for doc in data["embeddings"]] == [3, 1]
    assert all(len(row) == 32 for doc in data["embeddings"] for row in doc)
    assert not any(data["embeddings"][0][2])


def test_settings_models_are_used_without_model(
    documents: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_DOC_MODEL", "fake:16")
    monkeypatch.setenv("RAG_QUERY_MODEL", "fake:16")
    code, out, _ = run(["embed", "--documents", str(documents)], monkeypatch, capsys)
    assert code == 0
    assert "model fake:16, 16 dimensions" in out and "document 1: 1 chunks" in out


def test_a_missing_model_folder_exits_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["embed", "hello", "--model", str(tmp_path / "absent")], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: no model folder") and err.count("\n") == 1
    assert "RAG_DOC_MODEL" in err


def test_bad_arguments_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["embed", "--model", "fake:8"], monkeypatch, capsys)
    assert code == 2 and "either TEXT" in err
    code, _, err = run(["embed", "x", "--model", "fake:8", "--format", "float"], monkeypatch, capsys)
    assert code == 2 and "--format" in err


def test_help_lists_the_command() -> None:
    import ingest.cli.embed_cmd  # noqa: F401  (registers the command)

    result = CliRunner().invoke(app, ["embed", "--help"])
    assert result.exit_code == 0 and "--documents" in result.output

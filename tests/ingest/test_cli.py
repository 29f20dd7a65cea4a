"""The ``rag`` ingestion commands with the fast fake embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from ingest.cli.search_cmd import parse_filters
from ingest.encoding import token_counter
from rag.errors import CollectionNotFoundError, DocumentNotFoundError
from tests.ingest.cli import json_out, rag

FAKE = "fake:64"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "tea.md").write_text("# Tea\n\nGreen tea is steeped at eighty degrees.")
    (root / "sub" / "coffee.txt").write_text("Espresso is pressed at nine bars.")
    (root / "draft.md").write_text("# Draft\n\nNot ready.")
    return root


def test_ingest_prints_a_summary_and_exits_zero(tmp_path: Path, docs: Path) -> None:
    result = rag(tmp_path / "data", FAKE, "ingest", str(docs), "--exclude", "draft.md")
    assert result.exit_code == 0
    assert "ingested into 'default': 2 added, 0 updated, 0 skipped, 0 deleted, 0 failed" in result.stdout


def test_failures_are_named_on_stderr_with_exit_one(tmp_path: Path, docs: Path) -> None:
    (docs / "bad.txt").write_bytes(b"\x00\x01\x02")
    result = rag(tmp_path / "data", FAKE, "ingest", str(docs))
    assert result.exit_code == 1
    assert f"failed: {docs / 'bad.txt'}: binary file" in result.stderr


def test_dry_run_json_counts_without_creating_the_collection(tmp_path: Path, docs: Path) -> None:
    summary = json_out(rag(tmp_path / "data", FAKE, "ingest", str(docs), "--dry-run", "--json", "-c", "x"))
    assert (summary["dry_run"], summary["added"], summary["collection"]) == (True, 3, "x")
    assert summary["chunks"] == 3 and summary["tokens"] > 10
    assert json_out(rag(tmp_path / "data", FAKE, "collections", "--json")) == []


def test_collections_lists_counts_and_fingerprints(tmp_path: Path, docs: Path) -> None:
    rag(tmp_path / "data", FAKE, "ingest", str(docs), "--collection", "drinks")
    [row] = json_out(rag(tmp_path / "data", FAKE, "collections", "--json"))
    assert (row["name"], row["documents"], row["chunks"]) == ("drinks", 3, 3)
    assert row["fingerprint"]["embedder"]["doc_model"] == FAKE
    assert row["fingerprint"]["chunker"]["encoding"] == "cl100k_base"
    readable = rag(tmp_path / "data", FAKE, "collections").stdout
    assert readable.startswith("drinks: 3 documents, 3 chunks; model fake:64")


def test_search_prints_readable_hits_and_json_hits(tmp_path: Path, docs: Path) -> None:
    rag(tmp_path / "data", FAKE, "ingest", str(docs))
    readable = rag(tmp_path / "data", FAKE, "search", "green tea steeped", "-k", "1").stdout
    assert readable.startswith("1. ") and "Tea" in readable and "eighty degrees" in readable
    [hit] = json_out(rag(tmp_path / "data", FAKE, "search", "espresso", "--filter", "format=text", "--json"))
    assert (hit["document_id"], hit["metadata"]["path"], hit["page"]) == (
        "sub/coffee.txt",
        "sub/coffee.txt",
        None,
    )
    assert hit["source"] == "sub/coffee.txt"  # relative to the ingested folder, not this machine's path
    assert (hit["chunk_index"], hit["tokens"]) == (0, token_counter("cl100k_base")(hit["text"]))


def test_search_takes_a_fixed_rescore_multiplier_or_the_adaptive_default(tmp_path: Path, docs: Path) -> None:
    rag(tmp_path / "data", FAKE, "ingest", str(docs))
    runs = [
        rag(tmp_path / "data", FAKE, "search", "espresso", "--mode", mode, "--json", *extra)
        for mode in ("binary+int8", "hybrid")
        for extra in ((), ("--rescore-multiplier", "4"))
    ]
    assert all(run.exit_code == 0 for run in runs)
    # three chunks: every pool holds them all, so adaptive and fixed agree
    assert json_out(runs[0]) == json_out(runs[1]) and json_out(runs[0])[0]["document_id"] == "sub/coffee.txt"
    assert json_out(runs[2]) == json_out(runs[3])
    bad = rag(tmp_path / "data", FAKE, "search", "espresso", "--rescore-multiplier", "0")
    assert bad.exit_code == 2 and "--rescore-multiplier" in bad.output


def test_keep_floats_makes_float_exact_search_work(tmp_path: Path, docs: Path) -> None:
    rag(tmp_path / "data", FAKE, "ingest", str(docs), "--keep-floats", "-c", "exact")
    hits = json_out(
        rag(tmp_path / "data", FAKE, "search", "espresso", "-c", "exact", "--mode", "float-exact", "--json")
    )
    assert hits[0]["document_id"] == "sub/coffee.txt"


def test_delete_a_document_then_the_collection(tmp_path: Path, docs: Path) -> None:
    data = tmp_path / "data"
    rag(data, FAKE, "ingest", str(docs))
    assert rag(data, FAKE, "delete", "--collection", "default", "--doc", "tea.md").exit_code == 0
    assert json_out(rag(data, FAKE, "collections", "--json"))[0]["documents"] == 2
    with pytest.raises(DocumentNotFoundError):
        rag(data, FAKE, "delete", "--collection", "default", "--doc", "tea.md")
    assert rag(data, FAKE, "delete", "--collection", "default").exit_code == 0
    with pytest.raises(CollectionNotFoundError):
        rag(data, FAKE, "delete", "--collection", "default")


def test_user_mistakes_are_one_error_line_and_a_non_zero_exit(tmp_path: Path, docs: Path) -> None:
    env = {
        **os.environ,
        "RAG_DOC_MODEL": FAKE,
        "RAG_QUERY_MODEL": "fake:64",
        "RAG_DATA_DIR": str(tmp_path / "d"),
    }
    run = [sys.executable, "-m", "ingest"]
    subprocess.run([*run, "ingest", str(docs)], env=env, check=True, capture_output=True)
    other = {**env, "RAG_DOC_MODEL": "fake:32", "RAG_QUERY_MODEL": "fake:32"}
    mismatch = subprocess.run([*run, "ingest", str(docs)], env=other, capture_output=True, text=True)
    missing = subprocess.run([*run, "search", "x", "-c", "nope"], env=env, capture_output=True, text=True)
    for result in (mismatch, missing):
        assert result.returncode != 0 and result.stderr.startswith("error: ")
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "different embedder" in mismatch.stderr and "'nope'" in missing.stderr


def test_filters_parse_json_values_else_strings() -> None:
    assert parse_filters(["year=2020", "draft=false", "lang=en", 'n={"$gte": 3}', "tag=a=b"]) == {
        "year": 2020,
        "draft": False,
        "lang": "en",
        "n": {"$gte": 3},
        "tag": "a=b",
    }
    assert parse_filters([]) is None
    for bad in (["novalue"], ["=x"], ["a=1", "a=2"]):
        with pytest.raises(typer.BadParameter):
            parse_filters(bad)


def test_serve_passes_options_to_the_api_factory_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    environ = dict(os.environ)  # serve writes the variables; keep them out of the real environment
    monkeypatch.setattr(os, "environ", environ)
    result = rag(tmp_path / "data", FAKE, "serve", "--port", "8123")
    assert result.exit_code == 0
    options = {"factory": True, "host": "127.0.0.1", "port": 8123}
    guards = {"http": "api.connguard:GuardedProtocol", "timeout_keep_alive": 5}  # issue 15.9
    assert calls == [("api.app:create_app", options | guards)]
    assert environ["RAG_DATA_DIR"] == str(tmp_path / "data")
    assert (environ["RAG_DOC_MODEL"], environ["RAG_PORT"], environ["RAG_HOST"]) == (FAKE, "8123", "127.0.0.1")


def test_serve_forwards_the_bind_override_and_the_keys_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    environ = dict(os.environ)
    monkeypatch.setattr(os, "environ", environ)
    keys = tmp_path / "keys.json"
    args = ("serve", "--host", "0.0.0.0", "--allow-insecure-bind", "--api-keys-file", str(keys))
    assert rag(tmp_path / "data", FAKE, *args).exit_code == 0
    assert environ["RAG_HOST"] == "0.0.0.0"
    assert environ["RAG_ALLOW_INSECURE_BIND"] == "True"
    assert environ["RAG_API_KEYS_FILE"] == str(keys)


def test_the_command_line_does_not_import_the_api() -> None:
    code = "import sys, ingest.cli.main as m; m._register_commands(); print('api' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_json_summary_is_one_object_on_stdout(tmp_path: Path, docs: Path) -> None:
    result = rag(tmp_path / "data", FAKE, "ingest", str(docs), "--json")
    assert json.loads(result.stdout)["added"] == 3 and result.stderr == ""


def test_the_progress_bar_takes_pipeline_events(capsys: pytest.CaptureFixture[str]) -> None:
    from ingest.cli.ingest_cmd import progress_bar
    from ingest.summary import IngestProgress

    with progress_bar(enabled=True) as update:
        assert update.bar is not None
        update.phase("loading model")  # shown while the model loads, before any progress (issue 15.18)
        assert [task.description for task in update.bar.tasks] == ["loading model"]
        update(IngestProgress(0, 2, 0, 0, 100))
        update(IngestProgress(2, 2, 5, 100, 100))
        assert update.bar.tasks[0].completed == 100
    with progress_bar(enabled=False) as update:
        assert update.bar is None
        update.phase("loading model")  # does nothing
        update(IngestProgress(0, 2, 0, 0, 100))
    assert capsys.readouterr().out == ""  # the bar never writes to stdout


def test_empty_documents_are_named_on_stderr(tmp_path: Path, docs: Path) -> None:
    (docs / "blank.md").write_text("  \n")
    result = rag(tmp_path / "data", FAKE, "ingest", str(docs))
    assert result.exit_code == 0 and "no text, not stored: blank.md" in result.stderr

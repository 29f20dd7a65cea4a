"""The rescoring-depth sweep and the PNG plots of ``rag eval --plot`` and ``make eval`` (bench/eval.py),
on a tiny BEIR folder built here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.evaluation import EvalConfig, evaluate_dataset
from ingest.evaluation_plots import write_plots
from ingest.evaluation_report import rescore_table
from ingest.pipeline import IngestOptions
from rag.embedding.fake import HashEmbedder
from rag.search import MIN_CANDIDATES
from rag.store import Library
from rag.store.depth import DEFAULT_ADAPTIVE
from tests.conftest import REPO_ROOT
from tests.ingest.cli import rag

# Forty documents, so that ten documents' worth of chunks is a fraction of the corpus.
TOPICS = [f"{animal}{colour}" for animal in ("heron", "quokka", "walrus", "gecko", "otter")
          for colour in ("red", "blue", "green", "amber", "grey", "violet", "teal", "ochre")]  # fmt: skip
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ["eval-modes.png", "eval-rescore.png", "eval-hybrid.png"]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_beir(folder: Path) -> Path:
    """Documents of several chunks each, alike but for one topic word a paragraph (so that the quantized
    modes and the rescore pool make a difference), two splits, and an answer span in every document."""
    (folder / "qrels").mkdir(parents=True)
    corpus, answers = [], []
    for i, topic in enumerate(TOPICS):
        paragraphs = [f"Note {n}: " + " ".join(f"detail {n}.{k}." for k in range(12)) + f" The {topic}."
                      for n in range(3)]  # fmt: skip
        text = "\n\n".join(paragraphs)
        corpus.append({"_id": f"d{i}", "title": f"Notes {i}", "text": text})
        start = text.index(paragraphs[2])  # the answer is the third paragraph
        answers.append(
            {"query_id": f"q{i}", "doc_id": f"d{i}", "start": start, "end": start + len(paragraphs[2])}
        )
    _jsonl(folder / "corpus.jsonl", corpus)
    _jsonl(
        folder / "queries.jsonl",
        [{"_id": f"q{i}", "text": f"the {t} detail 2.5"} for i, t in enumerate(TOPICS)],
    )
    header = "query-id\tcorpus-id\tscore\n"
    for split, first in (("test", 0), ("train", 1)):
        rows = "".join(f"q{i}\td{i}\t1\n" for i in range(first, len(TOPICS), 2))
        (folder / "qrels" / f"{split}.tsv").write_text(header + rows)
    _jsonl(folder / "answers.jsonl", answers)
    return folder


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny")


@pytest.fixture
def result(beir: Path, tmp_path: Path) -> dict[str, Any]:
    library = Library(tmp_path / "data")
    try:
        options = IngestOptions(target_tokens=60, max_tokens=80)
        return evaluate_dataset(
            library, HashEmbedder(64, document_mode="isolated"), EvalConfig(beir), options
        )
    finally:
        library.close()


def test_the_rescore_sweep_varies_the_real_depth_and_reports_it_beside_the_adaptive_default(
    result: dict[str, Any],
) -> None:
    sweep = result["rescore"]
    assert (sweep["mode"], sweep["reference"]) == ("binary+int8", "int8-exact")
    rows = {row["multiplier"]: row for row in sweep["multipliers"]}
    assert list(rows) == [1, 2, 4, 8, 16]
    modes = result["modes"]
    doc_top_k, chunks = result["doc_top_k"], result["chunks"]
    # The fixed pools bypass the searcher's floor of MIN_CANDIDATES: each rescores exactly top_k x m
    # candidates (all chunks at most), so the sweep is not flat where k x m < MIN_CANDIDATES.
    for m, row in rows.items():
        assert row["depth"] == min(doc_top_k * m, chunks)
        assert row["depth_top10"] == min(10 * m, chunks)
    assert rows[1]["depth_top10"] < rows[2]["depth_top10"] < rows[4]["depth_top10"] < MIN_CANDIDATES
    fixed, adaptive = sweep["fixed_default"], sweep["adaptive"]
    assert (fixed["multiplier"], fixed["floor"]) == (4, MIN_CANDIDATES)
    assert fixed["depth"] == min(max(doc_top_k * 4, MIN_CANDIDATES), chunks)
    assert (adaptive["margin"], adaptive["tail_margin"]) == (
        DEFAULT_ADAPTIVE.margin,
        DEFAULT_ADAPTIVE.tail_margin,
    )
    assert doc_top_k <= adaptive["depth"] <= min(DEFAULT_ADAPTIVE.pool(doc_top_k), chunks)
    assert modes["binary+int8"]["depth_top10"] == adaptive["depth_top10"]  # the mode row is the default
    for key in ("ndcg@10", "answer_hit@10"):
        assert adaptive[key] == modes["binary+int8"][key]
        reference = modes["int8-exact"][key]
        for row in [*rows.values(), fixed, adaptive]:
            kept = row[f"retention_{key}"]
            assert kept == (None if reference == 0 else round(row[key] / reference, 4))
        assert rows[16][key] >= rows[1][key]
    # 16 x doc_top_k candidates are every chunk: rescoring them all is the int8-exact ranking.
    assert doc_top_k * 16 >= chunks > doc_top_k
    assert rows[16]["ndcg@10"] == modes["int8-exact"]["ndcg@10"] and rows[16]["retention_ndcg@10"] == 1.0
    table = rescore_table(result).splitlines()
    assert table[0] == (
        "| rescore | depth | depth@10 | ndcg@10 | answer_hit@10 | retention ndcg@10 "
        "| retention answer_hit@10 |"
    )
    assert len(table) == 2 + 5 + 2
    assert table[-2].startswith("| fixed x4, floor 100 |")
    assert table[-1].startswith(
        f"| adaptive (margins {DEFAULT_ADAPTIVE.margin} / {DEFAULT_ADAPTIVE.tail_margin}) [default] "
        f"| {adaptive['depth']} |"
    )


def test_write_plots_draws_the_three_figures_as_pngs(result: dict[str, Any], tmp_path: Path) -> None:
    import matplotlib.image

    written = write_plots([result, {**result, "document_mode": "contextual"}], tmp_path / "plots")
    assert [path.name for path in written] == PLOTS
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC
        height, width, _ = matplotlib.image.imread(path).shape
        assert width >= 600 and height >= 400
    no_sweeps = {key: value for key, value in result.items() if key not in ("rescore", "hybrid")}
    assert [p.name for p in write_plots([no_sweeps], tmp_path / "modes-only")] == ["eval-modes.png"]
    with pytest.raises(ValueError, match="no evaluation results"):
        write_plots([], tmp_path / "none")


def test_rag_eval_plot_writes_pngs_and_prints_the_rescore_table(beir: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    done = rag(tmp_path / "data", "fake:64", "eval", str(beir), "--plot", str(out))
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == sorted(PLOTS)
    assert "binary+int8 at each rescoring depth (depth: candidates rescored per query" in done.stdout
    assert "retention: share of int8-exact):" in done.stdout
    assert f"plot: {out / 'eval-rescore.png'}" in done.stderr


BLOCK_MATPLOTLIB = "import sys; sys.modules['matplotlib'] = None; from ingest.cli.main import main; main()"


def test_rag_eval_plot_without_matplotlib_is_one_error_line_before_any_work(
    beir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    command = [sys.executable, "-c", BLOCK_MATPLOTLIB, "--data-dir", str(data), "--doc-model", "fake:64",
               "--query-model", "fake:64", "eval", str(beir), "--plot", str(tmp_path / "plots")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "error: plots need matplotlib: pip install 'pplx-rag[plot]'.\n"
    assert not (data / "collections").exists() or not any((data / "collections").iterdir())
    assert not (tmp_path / "plots").exists()


@pytest.mark.model
def test_make_eval_writes_its_report_and_the_plots(tmp_path: Path) -> None:
    """bench/eval.py (``make eval``) on a tiny set named like a shared one, with the offline MiniLM."""
    write_beir(tmp_path / "shared" / "scifact")
    env = {
        **os.environ,
        "RAG_SHARED_DATA": str(tmp_path / "shared"),
        "RAG_EVAL_DATA_DIR": str(tmp_path / "data"),
    }
    out = tmp_path / "results" / "eval.md"
    command = [sys.executable, "bench/eval.py", "--sets", "scifact", "--out", str(out),
               "--plots", str(tmp_path / "docs")]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == sorted(PLOTS)
    assert "binary+int8 at each rescoring depth" in out.read_text(encoding="utf-8")
    saved = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert [row["multiplier"] for row in saved[0]["rescore"]["multipliers"]] == [1, 2, 4, 8, 16]

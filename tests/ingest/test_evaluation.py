"""``rag eval`` on a small synthetic BEIR folder with the fast fake embedder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ingest.cli.eval_cmd  # noqa: F401  (registers the command even before main lists it)
from ingest.evaluation import EvalConfig, collection_name, evaluate_dataset
from ingest.evaluation_data import load_beir
from ingest.evaluation_modes import documents_top_k
from ingest.evaluation_report import describe, modes_table, sweep_table
from ingest.evaluation_tuning import best_weight
from ingest.pipeline import IngestOptions
from rag.embedding.fake import HashEmbedder
from rag.errors import InvalidInputError
from rag.store import Library
from tests.ingest.cli import json_out, rag

TOPICS = ["tea", "coffee", "bicycle", "volcano", "piano", "glacier", "falcon", "copper"]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    """Eight documents, one per topic; doc d0 already starts with its title (like COVID-QA papers)."""
    folder = tmp_path / "toy"
    (folder / "qrels").mkdir(parents=True)
    corpus = []
    for i, topic in enumerate(TOPICS):
        body = f"The {topic} is discussed here. " + " ".join(f"{topic} fact {n}." for n in range(40))
        title = f"All about {topic}"
        corpus.append({"_id": f"d{i}", "title": title, "text": f"{title}\n\n{body}" if i == 0 else body})
    _write_jsonl(folder / "corpus.jsonl", corpus)
    _write_jsonl(
        folder / "queries.jsonl", [{"_id": f"q{i}", "text": f"what about {t}"} for i, t in enumerate(TOPICS)]
    )
    header = "query-id\tcorpus-id\tscore\n"
    (folder / "qrels" / "test.tsv").write_text(header + "".join(f"q{i}\td{i}\t1\n" for i in range(0, 8, 2)))
    (folder / "qrels" / "train.tsv").write_text(header + "".join(f"q{i}\td{i}\t1\n" for i in range(1, 8, 2)))
    _write_jsonl(folder / "answers.jsonl", [{"query_id": "q2", "doc_id": "d2", "start": 4, "end": 11}])
    return folder


def test_titles_are_prepended_and_answer_spans_shifted_to_match(beir: Path) -> None:
    data = load_beir(beir)
    assert data.corpus["d0"].offset == 0  # the text already begins with the title
    assert data.corpus["d2"].text.startswith("All about bicycle\n\nThe bicycle")
    (span,) = data.answers["q2"]
    assert data.corpus["d2"].text[span.start : span.end] == "bicycle"
    assert set(data.queries) == {"q0", "q2", "q4", "q6"}


def test_limits_keep_every_judged_document(beir: Path) -> None:
    data = load_beir(beir, limit_queries=2, limit_docs=3)
    assert set(data.queries) == {"q0", "q2"}
    assert {"d0", "d2"} <= set(data.corpus) and len(data.corpus) == 3
    with pytest.raises(InvalidInputError):
        load_beir(beir, split="dev")
    with pytest.raises(InvalidInputError):
        load_beir(beir / "qrels")


def test_collection_names_record_slice_and_mode(beir: Path) -> None:
    assert collection_name(EvalConfig(beir), "toy", "isolated") == "eval-toy-iso"
    sliced = EvalConfig(beir, limit_queries=5, limit_docs=9)
    assert collection_name(sliced, "toy", "contextual") == "eval-toy-q5-d9-ctx"
    assert collection_name(EvalConfig(beir, collection="mine"), "toy", "contextual") == "mine"
    assert collection_name(EvalConfig(beir, collection="mine", context_suffix=True), "toy", "contextual") == (
        "mine-ctx"
    )


def test_documents_top_k_gives_ten_documents_worth_of_chunks() -> None:
    assert documents_top_k(100, 100) == 10
    assert documents_top_k(101, 100) == 20
    assert documents_top_k(5000, 10) == 1000
    assert documents_top_k(0, 0) == 10


def test_best_weight_breaks_ties_by_the_second_measure_then_towards_one_half() -> None:
    results = {
        "rrf": {"m": 0.9, "t": 0.9},
        "convex@0.2": {"m": 0.8, "t": 0.5},
        "convex@0.3": {"m": 0.8, "t": 0.6},
        "convex@0.7": {"m": 0.8, "t": 0.6},
        "convex@0.9": {"m": 0.7, "t": 0.9},
    }
    assert best_weight(results, "m", "t") == 0.3
    results["convex@0.6"] = {"m": 0.8, "t": 0.6}
    assert best_weight(results, "m", "t") == 0.6


def test_evaluation_measures_every_mode_and_a_second_run_embeds_nothing(beir: Path, tmp_path: Path) -> None:
    library = Library(tmp_path / "data")
    try:
        embedder = HashEmbedder(64, document_mode="isolated")
        result = evaluate_dataset(library, embedder, EvalConfig(beir), IngestOptions())
        again = evaluate_dataset(library, embedder, EvalConfig(beir), IngestOptions())
    finally:
        library.close()
    assert result["collection"] == "eval-toy-iso" and result["queries"] == 4
    assert result["ingested"]["added"] == 8 and again["ingested"] == {"added": 0, "updated": 0, "skipped": 8}
    assert list(result["modes"]) == ["binary", "binary+int8", "int8-exact", "float-exact", "bm25", "hybrid"]
    for values in result["modes"].values():
        assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms_p50", "answer_hit@10"} <= set(
            values
        )
        assert 0.0 <= values["ndcg@10"] <= 1.0 and values["retention_ref"] == "float-exact"
    assert result["modes"]["float-exact"]["retention_ndcg@10"] == 1.0
    # BM25 finds each topic word in exactly one document.
    assert result["modes"]["bm25"]["ndcg@10"] == 1.0 and result["modes"]["bm25"]["answer_hit@1"] == 1.0
    assert {"lexical", "fusion"} <= set(result["modes"]["hybrid"]["stages_ms_p50"])
    sweep = result["hybrid"]["sweep"]
    assert sweep["convex@0.0"]["ndcg@10"] == result["modes"]["bm25"]["ndcg@10"]
    assert result["hybrid"]["settings"]["source"] == "default"
    # the default search mode is marked, in the JSON and in the table
    assert result["default_mode"] == "hybrid"
    assert [m for m, values in result["modes"].items() if values["default"]] == ["hybrid"]
    rows = [line for line in modes_table([result]).splitlines() if "[default mode]" in line]
    assert len(rows) == 1 and "| hybrid (convex w=0.3, default) [default mode] |" in rows[0]


def test_tuning_uses_the_train_split_and_stores_the_weight(beir: Path, tmp_path: Path) -> None:
    library = Library(tmp_path / "data")
    try:
        embedder = HashEmbedder(64, document_mode="isolated")
        result = evaluate_dataset(library, embedder, EvalConfig(beir, tune=True), IngestOptions())
        stored = library.open_collection(result["collection"]).settings["hybrid"]
    finally:
        library.close()
    assert stored["source"] == "tuned" and stored["split"] == "train" and stored["queries"] == 4
    assert stored["metric"] == "ndcg@10" and 0.0 <= stored["weight"] <= 1.0
    assert result["hybrid"]["settings"] == stored
    assert result["hybrid"]["tuned_on_evaluated_queries"] is False
    # Tuned on train, BM25 alone is perfect there, so the chosen weight must reproduce it on test too.
    assert result["modes"]["hybrid"]["ndcg@10"] >= result["modes"]["bm25"]["ndcg@10"] - 0.005
    text = modes_table([result]) + describe(result) + sweep_table(result)
    assert "hybrid (convex w=" in text and "tuned by ndcg@10 on 4 train queries" in text


def test_rag_eval_json_and_context_collections(beir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["eval", str(beir), "--limit-queries", "2", "--mode", "binary+int8", "--mode", "bm25"]
    out = json_out(rag(data, "fake:64", *args, "--json", "--context", "off"))
    assert out["dataset"] == "toy" and out["queries"] == 2 and out["collection"] == "eval-toy-q2-iso"
    assert set(out["modes"]) == {"binary+int8", "bm25"}
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms_p50"} <= set(out["modes"]["bm25"])
    assert set(out["hybrid"]["sweep"]) >= {"rrf", "convex@0.0", "convex@1.0"}
    hybrid_only = json_out(rag(data, "fake:64", "eval", str(beir), "--mode", "hybrid", "--json"))
    assert "sweep" not in hybrid_only["hybrid"] and hybrid_only["hybrid"]["settings"]["source"] == "default"
    contextual = json_out(rag(data, "fake:64", *args, "--json", "--context", "on", "-c", "toy"))
    assert contextual["collection"] == "toy-ctx" and contextual["document_mode"] == "contextual"
    table = rag(data, "fake:64", *args)
    assert table.exit_code == 0 and "| toy | contextual | bm25 |" in table.stdout
    assert "Fusion of binary+int8 and bm25" in table.stdout
    with pytest.raises(InvalidInputError):
        rag(data, "fake:64", "eval", str(beir), "--mode", "cosine")

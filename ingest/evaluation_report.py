"""Markdown tables of evaluation results (what ``rag eval`` prints and ``make eval`` writes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DOC_COLUMNS = (("ndcg@10", "nDCG@10"), ("recall@10", "R@10"), ("recall@100", "R@100"), ("mrr@10", "MRR@10"))
ANSWER_COLUMNS = (("answer_hit@1", "hit@1"), ("answer_hit@10", "hit@10"), ("answer_mrr@10", "aMRR@10"))


def _number(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _retention(values: dict[str, Any]) -> str:
    kept = values.get("retention_ndcg@10")
    answer = values.get("retention_answer_hit@10")
    parts = [f"{kept:.1%}" if kept is not None else "–"]
    if answer is not None:
        parts.append(f"{answer:.1%}")
    return " / ".join(parts)


def modes_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per (data set, document mode, search mode)."""
    answers = any(any("answer_hit@10" in v for v in r["modes"].values()) for r in results)
    columns = DOC_COLUMNS + (ANSWER_COLUMNS if answers else ())
    header = ["data set", "chunks", "mode", *(title for _, title in columns), "retention", "p50 ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for result in results:
        for mode, values in result["modes"].items():
            label = mode
            if mode == "hybrid":
                settings = result.get("hybrid", {}).get("settings", {})
                label = (
                    f"hybrid ({settings.get('method')} w={settings.get('weight')}, {settings.get('source')})"
                )
            if mode == result.get("default_mode"):
                label += " [default mode]"
            cells = [result["dataset"], result.get("document_mode", "?"), label]
            cells += [_number(values.get(key)) for key, _ in columns]
            cells += [_retention(values), _number(values.get("latency_ms_p50"), 1)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_table(result: dict[str, Any]) -> str:
    """The fusion sweep of one result: RRF and each convex weight (dense share) on the target measure."""
    sweep = result.get("hybrid", {}).get("sweep") or {}
    if not sweep:
        return ""
    metrics = [key for key in ("ndcg@10", "answer_hit@10") if key in next(iter(sweep.values()))]
    header = ["fusion", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, values in sweep.items():
        lines.append("| " + " | ".join([name, *(_number(values[m]) for m in metrics)]) + " |")
    return "\n".join(lines)


def rescore_rows(sweep: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The rows of a ``rescore`` section, labelled: fixed pools, the former default, the adaptive depth."""
    rows = [(f"fixed x{row['multiplier']}", row) for row in sweep["multipliers"]]
    fixed = sweep.get("fixed_default")
    if fixed:
        rows.append((f"fixed x{fixed['multiplier']}, floor {fixed['floor']}", fixed))
    adaptive = sweep.get("adaptive")
    if adaptive:
        margins = f"{adaptive['margin']} / {adaptive.get('tail_margin')}"
        rows.append((f"adaptive (margins {margins}) [default]", adaptive))
    return rows


def rescore_table(result: dict[str, Any]) -> str:
    """``binary+int8`` at each rescoring depth: the average depth (candidates rescored per query, at the
    documents' top_k and at top_k 10), the measures, and their retention of the reference mode's."""
    sweep = result.get("rescore")
    if not sweep:
        return ""
    rows = rescore_rows(sweep)
    metrics = [key for key in ("ndcg@10", "answer_hit@10") if key in rows[0][1]]
    header = ["rescore", "depth", "depth@10", *metrics, *(f"retention {key}" for key in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, row in rows:
        kept = [row.get(f"retention_{key}") for key in metrics]
        cells = [label, _number(row.get("depth"), 1), _number(row.get("depth_top10"), 1)]
        cells += [_number(row[key]) for key in metrics]
        cells += ["–" if value is None else f"{value:.1%}" for value in kept]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rescore_title(result: dict[str, Any]) -> str:
    """The line above the rescore table."""
    reference = result["rescore"]["reference"]
    return (
        f"binary+int8 at each rescoring depth (depth: candidates rescored per query at top_k "
        f"{result.get('doc_top_k')}, depth@10 at top_k 10; retention: share of {reference}):"
    )


def describe(result: dict[str, Any]) -> str:
    """A few lines on what was measured and how the hybrid weight was chosen."""
    hybrid = result.get("hybrid", {}).get("settings", {})
    lines = [
        f"{result['dataset']} ({result['split']}): {result['queries']} queries, "
        f"{result['documents']} documents, "
        f"{result['chunks']} chunks; collection {result['collection']} ({result['document_mode']} chunks).",
        f"Documents ranked by their best chunk: @10 measures over the top {result.get('doc_top_k')} chunks, "
        f"Recall@100 over the top {result['chunk_depth']}; answer hits over the top 10 chunks.",
    ]
    if hybrid.get("source") == "tuned":
        lines.append(
            f"hybrid: convex weight {hybrid.get('weight')} (dense share), tuned by {hybrid.get('metric')} on "
            f"{hybrid.get('queries')} {hybrid.get('split')} queries."
        )
    elif hybrid:
        lines.append(f"hybrid: {hybrid.get('method')} weight {hybrid.get('weight')} (default, not tuned).")
    return "\n".join(lines)

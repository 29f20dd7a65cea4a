"""Reading a BEIR-format evaluation folder, and slicing it for quick runs.

A folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``),
``qrels/<split>.tsv`` (a header line, then ``query-id<TAB>corpus-id<TAB>score``) and, optionally,
``answers.jsonl`` (``query_id``, ``doc_id``, ``start``, ``end``: a character span in the document's ``text``).

What gets ingested is ``title + "\\n\\n" + text``, unless the text already begins with its title (COVID-QA
papers do): the title then counts for retrieval as it does in BEIR's reference runs, and answer spans are
shifted by the length of the prefix so that they index the ingested text exactly.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import InvalidInputError
from rag.metrics import Span

TITLE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class CorpusDocument:
    """One corpus entry, with the text to ingest and how far the original text was shifted in it."""

    id: str
    title: str
    text: str
    offset: int  # characters prepended before the original text


@dataclass
class BeirDataset:
    """A BEIR folder read for one split (possibly a slice of it)."""

    name: str
    split: str
    corpus: dict[str, CorpusDocument]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    answers: dict[str, list[Span]] = field(default_factory=dict)

    @property
    def has_answers(self) -> bool:
        return bool(self.answers)


def has_split(folder: Path, split: str) -> bool:
    return (folder / "qrels" / f"{split}.tsv").is_file()


def load_beir(
    folder: Path,
    *,
    split: str = "test",
    limit_queries: int | None = None,
    limit_docs: int | None = None,
) -> BeirDataset:
    """Read ``folder`` for ``split``; limits keep the first judged queries and every document they judge.

    ``limit_docs`` caps the corpus but never drops a document that a kept query judges relevant: the
    judged documents come first, then the rest of the corpus in file order fills up to the cap.
    """
    if not (folder / "corpus.jsonl").is_file() or not (folder / "queries.jsonl").is_file():
        raise InvalidInputError(f"{folder} is not a BEIR folder (corpus.jsonl and queries.jsonl needed).")
    if not has_split(folder, split):
        raise InvalidInputError(f"{folder} has no qrels/{split}.tsv.")
    all_queries = {row["_id"]: row["text"] for row in _jsonl(folder / "queries.jsonl")}
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    judged = [qid for qid in qrels if qid in all_queries and any(r > 0 for r in qrels[qid].values())]
    if limit_queries is not None:
        judged = judged[:limit_queries]
    kept = {qid: qrels[qid] for qid in judged}
    corpus = _read_corpus(folder / "corpus.jsonl", kept, limit_docs)
    kept = {qid: {d: r for d, r in rels.items() if d in corpus} for qid, rels in kept.items()}
    answers = _read_answers(folder / "answers.jsonl", kept, corpus)
    return BeirDataset(
        name=folder.resolve().name,
        split=split,
        corpus=corpus,
        queries={qid: all_queries[qid] for qid in kept},
        qrels=kept,
        answers=answers,
    )


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for row in rows:
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def _read_corpus(
    path: Path, qrels: dict[str, dict[str, int]], limit_docs: int | None
) -> dict[str, CorpusDocument]:
    needed = {doc for rels in qrels.values() for doc in rels}
    corpus: dict[str, CorpusDocument] = {}
    others: list[CorpusDocument] = []
    for row in _jsonl(path):
        document = _document(row)
        if limit_docs is None or document.id in needed:
            corpus[document.id] = document
        elif len(others) < limit_docs:
            others.append(document)
    if limit_docs is not None:
        for document in others[: max(limit_docs - len(corpus), 0)]:
            corpus[document.id] = document
    return corpus


def _document(row: dict[str, Any]) -> CorpusDocument:
    title = (row.get("title") or "").strip()
    text = row.get("text") or ""
    if not title or text.startswith(title):
        return CorpusDocument(id=str(row["_id"]), title=title, text=text, offset=0)
    prefix = title + TITLE_SEPARATOR
    return CorpusDocument(id=str(row["_id"]), title=title, text=prefix + text, offset=len(prefix))


def _read_answers(
    path: Path, qrels: dict[str, dict[str, int]], corpus: dict[str, CorpusDocument]
) -> dict[str, list[Span]]:
    if not path.is_file():
        return {}
    answers: dict[str, list[Span]] = {}
    for row in _jsonl(path):
        qid, doc_id = str(row["query_id"]), str(row["doc_id"])
        if qid not in qrels or doc_id not in corpus:
            continue
        shift = corpus[doc_id].offset
        answers.setdefault(qid, []).append(Span(doc_id, int(row["start"]) + shift, int(row["end"]) + shift))
    return answers

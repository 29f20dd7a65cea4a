"""Loaders: files, folders and uploads to ``SourceDocument``s.

Formats by extension: text (``.txt .rst .csv .log`` and any unknown extension whose bytes are text),
Markdown, HTML, PDF, DOCX and JSON Lines. Folders are walked recursively in sorted order; hidden files and
folders (a name starting with ``.``) are skipped; ``include``/``exclude`` are globs matched against the
path relative to the folder and against the file name.

Document ids: a file's id is its path relative to the ingested folder (``guide/setup.md``), or its file
name when the file itself was named; JSON Lines documents keep the caller's ids. ``source`` is the file's
absolute path, which is what ``--sync`` compares.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from ingest.loaders.documents import LoadFailure, LoadResult, SourceDocument, UnreadableError
from ingest.loaders.formats import PARSERS, format_of
from ingest.loaders.jsonl import parse_jsonl

__all__ = [
    "LoadFailure",
    "LoadResult",
    "SourceDocument",
    "discover",
    "load_bytes",
    "load_files",
    "load_path",
    "load_paths",
]


def load_paths(
    paths: Iterable[Path], *, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> LoadResult:
    """Every document under ``paths`` (files or folders), and every failure."""
    result = LoadResult()
    for path in paths:
        result.extend(load_path(path, include=include, exclude=exclude))
    return result


def load_path(path: Path, *, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> LoadResult:
    """The documents of one file, or of every file under one folder."""
    if path.is_dir():
        return load_files(path, discover(path, include=include, exclude=exclude))
    if path.is_file():
        return _load_file(path, doc_id=path.name, name=str(path))
    return LoadResult(failures=[LoadFailure(str(path), "no such file or folder", str(path.absolute()))])


def load_files(root: Path, files: Iterable[Path]) -> LoadResult:
    """The documents of ``files`` found under the folder ``root`` (by ``discover``), with ids relative to
    it, exactly as ``load_path(root)`` gives them: what a worker that loads part of a folder calls."""
    result = LoadResult()
    for file in files:
        relative = file.relative_to(root).as_posix()
        result.extend(_load_file(file, doc_id=relative, name=str(file)))
    return result


def discover(root: Path, *, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Path]:
    """Files under ``root`` in sorted order, hidden ones skipped, filtered by the globs."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            file = Path(folder, name)
            relative = file.relative_to(root).as_posix()
            if not name.startswith(".") and _selected(relative, include, exclude):
                found.append(file)
    return found


def _selected(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    name = PurePosixPath(relative).name

    def matches(patterns: Sequence[str]) -> bool:
        return any(fnmatchcase(relative, p) or fnmatchcase(name, p) for p in patterns)

    return (not include or matches(include)) and not matches(exclude)


def load_bytes(filename: str, data: bytes) -> LoadResult:
    """The documents of an uploaded file; its id and source are ``filename``."""
    return _parse(filename, data, doc_id=filename, name=filename, source=filename)


def _load_file(file: Path, *, doc_id: str, name: str) -> LoadResult:
    source = str(file.resolve())
    try:
        data = file.read_bytes()
    except OSError as exc:
        return LoadResult(failures=[LoadFailure(name, exc.strerror or str(exc), source)])
    return _parse(file.name, data, doc_id=doc_id, name=name, source=source)


def _parse(filename: str, data: bytes, *, doc_id: str, name: str, source: str) -> LoadResult:
    kind = format_of(filename)
    if kind == "jsonl":
        return parse_jsonl(data, file_id=doc_id, name=name, source=source)
    try:
        parsed = PARSERS[kind](data)
    except UnreadableError as exc:
        return LoadResult(failures=[LoadFailure(name, str(exc), source)])
    document = SourceDocument(
        id=doc_id,
        text=parsed.text,
        title=parsed.title or PurePosixPath(filename).stem,
        source=source,
        metadata={"format": kind, "path": doc_id},
        pages=parsed.pages,
    )
    return LoadResult(documents=[document])

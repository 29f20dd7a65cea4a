"""Loaders: files, folders and uploads to ``SourceDocument``s.

Formats by extension: text (``.txt .rst .csv .log`` and any unknown extension whose bytes are text),
Markdown, HTML, PDF, DOCX and JSON Lines. Folders are walked recursively in sorted order; hidden files and
folders (a name starting with ``.``) are skipped; ``include``/``exclude`` are globs matched against the
path relative to the folder and against the file name.

Document ids: a file's id is its path relative to the ingested folder (``guide/setup.md``), or its file
name when the file itself was named; JSON Lines documents keep the caller's ids. ``source`` is the same
relative path (or file name): what users, hits and prompts see, never the ingesting machine's layout.
``root`` is the absolute folder ``source`` is relative to (the named folder, or a named file's folder);
``root/source`` is where the file lies, which is what ``--sync`` compares (``location``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from ingest.loaders.documents import LoadFailure, LoadResult, SourceDocument, UnreadableError
from ingest.loaders.files import DEFAULT_MAX_FILE_BYTES, is_unicode, printable, read_regular_file
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
    "location",
]


def load_paths(
    paths: Iterable[Path],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> LoadResult:
    """Every document under ``paths`` (files or folders), and every failure."""
    result = LoadResult()
    for path in paths:
        result.extend(load_path(path, include=include, exclude=exclude, max_file_bytes=max_file_bytes))
    return result


def load_path(
    path: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> LoadResult:
    """The documents of one file, or of every file under one folder (only regular files are read)."""
    if path.is_dir():
        failures: list[LoadFailure] = []
        files = discover(path, include=include, exclude=exclude, failures=failures)
        result = load_files(path, files, max_file_bytes)
        result.failures = failures + result.failures
        return result
    if os.path.lexists(path):  # a file, or a FIFO, device or link that _load_file names
        return _load_file(path, path.absolute().parent, doc_id=path.name, max_bytes=max_file_bytes)
    name = printable(str(path))
    return LoadResult(failures=[LoadFailure(name, "no such file or folder", printable(str(path.absolute())))])


def load_files(root: Path, files: Iterable[Path], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadResult:
    """The documents of ``files`` found under the folder ``root`` (by ``discover``), with ids relative to
    it, exactly as ``load_path(root)`` gives them: what a worker that loads part of a folder calls."""
    result = LoadResult()
    resolved = root.resolve()
    for file in files:
        relative = file.relative_to(root).as_posix()
        result.extend(_load_file(file, resolved, doc_id=relative, max_bytes=max_file_bytes))
    return result


def discover(
    root: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    failures: list[LoadFailure] | None = None,
) -> list[Path]:
    """Files under ``root`` in sorted order, hidden ones skipped, filtered by the globs. A folder that
    cannot be listed is a failure (appended to ``failures``) whose source is the folder: ``--sync`` never
    deletes under it, since what it holds is unknown."""
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        folder = Path(error.filename) if error.filename else root
        reason = f"cannot read folder: {error.strerror or error}"
        if failures is not None:
            failures.append(LoadFailure(printable(str(folder)), reason, os.path.realpath(folder)))

    for folder, subfolders, files in os.walk(root, onerror=unreadable):
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


def location(document: SourceDocument) -> str | None:
    """Where a document was loaded from: ``root/source`` for files, else its ``source`` (uploads, caller
    documents). The store computes the same from its stored fields (``Collection.documents_by_source``)."""
    if document.root is None or document.source is None:
        return document.source
    return f"{document.root.rstrip('/')}/{document.source}"


def _load_file(file: Path, root: Path, *, doc_id: str, max_bytes: int) -> LoadResult:
    """``doc_id`` is the file's path relative to ``root``, and so its ``source``; a failure's source is
    the file's location under ``root``, so that ``--sync`` keeps the documents of a file it could not read
    this time. Only regular files up to ``max_bytes`` are read (FIFOs, devices and link loops are named)."""
    name = printable(str(file))
    located = str(root / doc_id)
    if not (is_unicode(doc_id) and is_unicode(str(root))):
        reason = "the file name is not valid UTF-8 (rename the file)"
        return LoadResult(failures=[LoadFailure(name, reason, printable(located))])
    try:
        data = read_regular_file(str(file), max_bytes)
    except UnreadableError as exc:
        return LoadResult(failures=[LoadFailure(name, str(exc), located)])
    parsed = _parse(file.name, data, doc_id=doc_id, name=name, source=doc_id)
    failures = [replace(failure, source=located) for failure in parsed.failures]
    documents = [replace(document, root=str(root)) for document in parsed.documents]
    return LoadResult(documents=documents, failures=failures)


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
        title=(parsed.title or PurePosixPath(filename).stem).replace("\x00", ""),  # a file's NUL: not ours
        source=source,
        metadata={"format": kind, "path": doc_id},
        pages=parsed.pages,
    )
    return LoadResult(documents=[document])

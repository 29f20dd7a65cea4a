"""Ingestion on a Ray cluster: loading and chunking in Ray tasks, embedding in a Ray Data actor pool.

The pipeline (``ingest.pipeline.Ingestor``) still plans and writes: it alone decides what is skipped,
embedded or deleted, and one writer (the driver) commits the same atomic, idempotent batches as a local
run. ``RayStage`` only moves the work: every pending document becomes one row of one Ray Data job (a row
is a whole document, because a contextual chunk vector depends on its neighbours), ``map_batches`` runs a
pool of ``EmbedderActor`` (each loads the model once, from ``ModelOptions``; one GPU each where the
cluster has GPUs), and the vectors stream back in input order (``preserve_order``), as bytes, to be cut
into write batches by the same token budget. Actors that die are restarted and their batch retried by
Ray Data; a refused document (``InvalidInputError``) comes back as that document's failure.

This is the only module that imports Ray; nothing imports it unless ``--ray`` / ``RAG_RAY_ADDRESS`` asks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.data import DataContext
from ray.exceptions import RayTaskError

from ingest.chunking import chunk_text
from ingest.encoding import get_encoding
from ingest.loaders import LoadResult, discover, load_files, load_path
from ingest.pending import Pending, batches, content_hash, storable
from ingest.stages import Embedded, Loaded, embed_or_refuse, is_address
from ingest.summary import IngestOptions
from rag.embedding.base import ApiUsage
from rag.embedding.factory import ModelOptions, load_embedder
from rag.errors import ConfigError, EmbeddingError, RagError
from rag.fingerprint import EmbedderFingerprint
from rag.types import ChunkRecord, Embeddings

FILES_PER_TASK = 16
DOCUMENTS_PER_CALL = 8  # documents per actor call (the embedder batches their chunks by its token budget)

Chunked = dict[str, tuple[str, list[ChunkRecord]]]


class EmbedderActor:
    """One embedding worker of the pool: loads the model once, then embeds batches of whole documents.

    Each output row holds the document's int8 codes, packed bits and (with ``keep_floats``) floats as
    bytes, its chunk count, ``truncated`` (its chunks the model cut, ``Embedder.count_truncated``) and
    ``error``: empty, or why the embedder refused the document."""

    def __init__(self, options: ModelOptions, keep_floats: bool) -> None:
        self.embedder = load_embedder(options)
        self.keep_floats = keep_floats

    def __call__(self, batch: dict[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        documents = [[str(text) for text in texts] for texts in batch["texts"]]
        embedded = embed_or_refuse(self.embedder, documents, self.keep_floats)
        vectors = [rows if isinstance(rows, Embeddings) else None for rows in embedded]

        def column(values: list[Any]) -> np.ndarray[Any, Any]:
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array

        return {
            "index": np.asarray(batch["index"], dtype=np.int64),
            "truncated": np.asarray(self.embedder.count_truncated(documents), dtype=np.int64),
            "chunks": np.array([len(v) if v else 0 for v in vectors], dtype=np.int64),
            "int8": column([v.int8.tobytes() if v else b"" for v in vectors]),
            "bits": column([v.bits.tobytes() if v else b"" for v in vectors]),
            "floats": column([v.floats.tobytes() if v and v.floats is not None else b"" for v in vectors]),
            "error": column([rows if isinstance(rows, str) else "" for rows in embedded]),
        }


class RayStage:
    """The pipeline's embedding stage on a Ray cluster (``address``: ``auto`` joins a running cluster,
    ``None`` or ``local`` starts one on this machine, else ``ray://host:port`` or ``host:port``).

    ``options``: how the loading tasks chunk, or a function of the document model's window giving them
    (``IngestOptions.from_settings(settings, max_input_tokens=window)``, as a local run derives them): the
    window is known once a task has loaded the model. ``actors``: embedding actors in the pool (default: one
    per GPU of the cluster, else one);
    ``actor_class``: the actor to run (a subclass of ``EmbedderActor``). Call ``close`` when done: it
    disconnects from (or stops) the cluster this stage joined (or started)."""

    def __init__(
        self,
        address: str | None,
        model_options: ModelOptions,
        options: IngestOptions | Callable[[int | None], IngestOptions],
        *,
        actors: int | None = None,
        actor_class: type[EmbedderActor] = EmbedderActor,
    ) -> None:
        if address not in (None, "") and not is_address(address):
            raise ConfigError(f"not a Ray address: {address!r} (auto, local, ray://host:port or host:port).")
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            target = None if address in (None, "", "local") else address
            ray.init(
                address=target, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
            )
        gpus = int(ray.cluster_resources().get("GPU", 0))  # type: ignore[no-untyped-call]
        self.gpus_per_actor = 1 if gpus else 0
        self.actors = actors or max(gpus, 1)
        self.model_options = model_options
        self.actor_class = actor_class
        facts = ray.remote(_model_facts).options(num_gpus=self.gpus_per_actor).remote(model_options)
        fingerprint, window = _get(facts)
        self._fingerprint: EmbedderFingerprint = fingerprint
        self._max_input_tokens: int | None = window
        self.options = options if isinstance(options, IngestOptions) else options(window)
        self._truncated: dict[tuple[str, ...], int] = {}  # a document's chunks -> how many the model cut

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        """The embedder's fingerprint, from a Ray task (the driver never loads the model)."""
        return self._fingerprint

    @property
    def max_input_tokens(self) -> int | None:
        """The document model's window, from the same task as the fingerprint."""
        return self._max_input_tokens

    def close(self) -> None:
        if self.owns_ray and ray.is_initialized():
            ray.shutdown()

    def load(
        self,
        paths: Sequence[Path],
        include: Sequence[str],
        exclude: Sequence[str],
        stored: dict[str, str],
        *,
        max_file_bytes: int,
    ) -> Loaded:
        """Files found here, read and chunked in Ray tasks (groups of files), merged in input order;
        documents whose content hash is ``stored`` already are not chunked (the pipeline decides)."""
        task = ray.remote(load_group)
        cwd, states = os.getcwd(), ray.put(stored)
        futures = [
            task.remote(cwd, root, files, self.options, states)
            for root, files in self._groups(paths, include, exclude)
        ]
        loaded = Loaded(LoadResult())
        for result, chunked in _get(futures):
            loaded.result.extend(result)
            for doc_id, made in chunked.items():
                loaded.chunked.setdefault(doc_id, made)  # a repeated id is the pipeline's duplicate
        return loaded

    @staticmethod
    def _groups(
        paths: Sequence[Path], include: Sequence[str], exclude: Sequence[str]
    ) -> Iterator[tuple[Path, list[Path] | None]]:
        for path in paths:
            if not path.is_dir():
                yield path, None  # a file, or a missing path: load_path reads or reports it
                continue
            files = discover(path, include=include, exclude=exclude)
            for start in range(0, len(files), FILES_PER_TASK):
                yield path, files[start : start + FILES_PER_TASK]

    @property
    def api_usage(self) -> ApiUsage:
        """Zero: the actors run local models (a hosted backend's usage is not gathered from them)."""
        return ApiUsage()

    def count_truncated(self, documents: list[list[str]]) -> list[int]:
        """Chunks per document that the model cut, as the actors counted them while embedding (any other
        document is counted by a Ray task that loads the model)."""
        missing = [texts for texts in documents if tuple(texts) not in self._truncated]
        if missing:
            task = ray.remote(_count_truncated).options(num_gpus=self.gpus_per_actor)
            counted = _get(task.remote(self.model_options, missing))
            self._truncated.update(zip(map(tuple, missing), counted, strict=True))
        return [self._truncated[tuple(texts)] for texts in documents]

    def embed(self, pending: list[Pending], budget: int, keep_floats: bool) -> Iterator[list[Embedded]]:
        """All of ``pending`` in one Ray Data job; write batches as the vectors stream back in order."""
        if not pending:
            return
        rows = iter(self._dataset(pending, keep_floats).iter_rows())
        self._truncated = {}
        position = 0
        for batch in batches(pending, budget):
            embedded: list[Embedded] = []
            for item in batch:
                row = _next_row(rows)
                if int(row["index"]) != position:
                    raise EmbeddingError(f"Ray returned document {row['index']} where {position} was due.")
                embedded.append((item, _decode(row)))
                self._truncated[tuple(item.texts)] = int(row["truncated"])
                position += 1
            yield embedded

    def _dataset(self, pending: list[Pending], keep_floats: bool) -> ray.data.Dataset:
        context = DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        items = [{"index": index, "texts": item.texts} for index, item in enumerate(pending)]
        return ray.data.from_items(items).map_batches(
            self.actor_class,
            fn_constructor_kwargs={"options": self.model_options, "keep_floats": keep_floats},
            batch_size=DOCUMENTS_PER_CALL,
            batch_format="numpy",
            concurrency=self.actors,
            num_gpus=self.gpus_per_actor or None,
        )


def load_group(
    cwd: str, root: Path, files: list[Path] | None, options: IngestOptions, stored: dict[str, str]
) -> tuple[LoadResult, Chunked]:
    """A Ray task: read ``files`` of the folder ``root`` (or the one path ``root``) with the loaders, as
    ``load_path`` would, and chunk every document with text whose content hash is not ``stored`` already
    (the driver chunks it itself if it turns out to need it). Paths are taken as the driver gave them."""
    with _working_directory(cwd):
        limit = options.max_file_bytes
        result = load_path(root, max_file_bytes=limit) if files is None else load_files(root, files, limit)
    encoding = get_encoding(options.encoding, options.tiktoken_cache_dir)
    chunked: Chunked = {}
    for document in map(storable, result.documents):
        if not document.text.strip() or document.id in chunked:
            continue
        hashed = content_hash(document)
        if stored.get(document.id) != hashed:
            chunks = chunk_text(
                document.text,
                encoding,
                target_tokens=options.target_tokens,
                max_tokens=options.max_tokens,
                pages=document.pages,
            )
            chunked[document.id] = (hashed, chunks)
    return result, chunked


@contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """Relative paths resolve as on the driver (a worker of the local cluster shares its file system)."""
    before = os.getcwd()
    os.chdir(path) if os.path.isdir(path) else None
    try:
        yield
    finally:
        os.chdir(before)


def _model_facts(options: ModelOptions) -> tuple[EmbedderFingerprint, int | None]:
    embedder = load_embedder(options)
    return embedder.fingerprint, embedder.max_input_tokens


def _count_truncated(options: ModelOptions, documents: list[list[str]]) -> list[int]:
    return load_embedder(options).count_truncated(documents)


def _decode(row: dict[str, Any]) -> Embeddings | str:
    if row["error"]:
        return str(row["error"])
    count = int(row["chunks"])
    floats = row["floats"]
    return Embeddings(
        int8=np.frombuffer(row["int8"], dtype=np.int8).reshape(count, -1),
        bits=np.frombuffer(row["bits"], dtype=np.uint8).reshape(count, -1),
        floats=np.frombuffer(floats, dtype=np.float32).reshape(count, -1) if floats else None,
    )


def _next_row(rows: Iterator[dict[str, Any]]) -> dict[str, Any]:
    try:
        return next(rows)
    except RayTaskError as exc:
        raise _cause(exc) from None
    except StopIteration:
        raise EmbeddingError("Ray returned fewer documents than were sent.") from None


def _get(refs: Any) -> Any:
    try:
        return ray.get(refs)
    except RayTaskError as exc:
        raise _cause(exc) from None


def _cause(exc: RayTaskError) -> Exception:
    """Our own error when a task raised one (a model that does not load, a backend failure)."""
    cause = exc.cause if isinstance(exc.cause, RagError) else None
    return cause or EmbeddingError(f"a Ray task failed: {exc}")

"""Ingestion on a real local Ray cluster (one per module): the same collection as a serial run, actors
that die are retried, a killed driver leaves a consistent collection that a re-run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from ingest.distributed import EmbedderActor, RayStage  # noqa: E402
from ingest.pipeline import IngestOptions, Ingestor, IngestSummary  # noqa: E402
from ingest.summary import DEFAULT_MAX_TOKENS, chunk_sizes  # noqa: E402
from rag.embedding.base import Embedder  # noqa: E402
from rag.embedding.factory import ModelOptions, load_embedder  # noqa: E402
from rag.errors import InvalidInputError  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store import Collection, Library  # noqa: E402
from rag.types import Embeddings, SearchMode  # noqa: E402
from tests.conftest import REPO_ROOT  # noqa: E402

OPTIONS = IngestOptions(target_tokens=40, max_tokens=64, batch_tokens=300)
FAKE = ModelOptions(doc_model="fake:32", query_model="fake:32")
MINILM = ModelOptions(doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2", torch_threads=1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray cluster for this module; yields its address (host:port) for subprocesses."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def write_corpus(root: Path, documents: int) -> Path:
    (root / "notes").mkdir(parents=True)
    for n in range(documents):
        folder = root / "notes" if n % 3 == 0 else root
        sentences = " ".join(f"Note {n} sentence {k} is about subject {n * k % 7}." for k in range(6 + n % 9))
        (folder / f"doc{n:03d}.md").write_text(f"# Doc {n}\n\n{sentences}\n\n## More\n\n{sentences}\n")
    (root / "broken.bin").write_bytes(b"\x00\x01binary")
    return root


def ingest(data: Path, corpus: Path, embedder: Embedder | RayStage) -> IngestSummary:
    library = Library(data)
    try:
        return Ingestor(library, embedder, OPTIONS).ingest_paths([corpus], collection="c", sync=True)
    finally:
        library.close()


def probes(dimensions: int, count: int = 4) -> list[Embeddings]:
    rng = np.random.default_rng(7)
    codes = rng.integers(-127, 128, size=(count, dimensions), dtype=np.int8)
    return [Embeddings(int8=row[None], bits=np.packbits(row[None] > 0, axis=1)) for row in codes]


def rows(data: Path) -> dict[tuple[str, int], tuple[Any, ...]]:
    """Every stored chunk, by (document id, ordinal): its text, offsets, and its scores against random
    probe queries in int8-exact and binary modes, so equal rows mean equal int8 codes and equal bits."""
    library = Library(data)
    try:
        collection = library.open_collection("c")
        chunks = _chunks(collection)
        seen: dict[tuple[str, int], list[float]] = {key: [] for key in chunks}
        for probe in probes(collection.fingerprint.embedder.dimensions):
            for mode in (SearchMode.INT8_EXACT, SearchMode.BINARY):
                scored, _ = collection.search_vectors(probe, mode=mode, top_k=len(chunks))
                for hit in collection.hydrate(scored):
                    seen[(hit.document_id, _ordinal(chunks, hit.document_id, hit.char_start))].append(
                        hit.score
                    )
        return {key: (*chunks[key], tuple(np.round(seen[key], 6))) for key in chunks}
    finally:
        library.close()


def _chunks(collection: Collection) -> dict[tuple[str, int], tuple[Any, ...]]:
    documents = collection.list_documents(limit=10_000)
    return {
        (document.id, ordinal): (chunk.text, chunk.char_start, chunk.char_end, chunk.token_count)
        for document in documents
        for ordinal, chunk in enumerate(collection.get_chunks(document.id))
    }


def _ordinal(chunks: dict[tuple[str, int], tuple[Any, ...]], doc_id: str, char_start: int) -> int:
    return next(o for (d, o), values in chunks.items() if d == doc_id and values[1] == char_start)


def counts(summary: IngestSummary) -> dict[str, Any]:
    data = summary.to_dict()
    del data["seconds"]
    return data


def test_a_ray_ingest_equals_a_serial_one_with_minilm(cluster: str, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 14)
    serial = ingest(tmp_path / "serial", corpus, load_embedder(MINILM))
    stage = RayStage(cluster, MINILM, OPTIONS, actors=1)
    distributed = ingest(tmp_path / "ray", corpus, stage)
    assert counts(distributed) == counts(serial)
    assert serial.added == 14 and serial.failed == 1  # the binary file, named the same way by both
    assert rows(tmp_path / "ray") == rows(tmp_path / "serial")
    again = ingest(tmp_path / "ray", corpus, stage)  # idempotent: the same hashes as a local run writes
    assert (again.skipped, again.added, again.tokens) == (14, 0, 0)
    library = Library(tmp_path / "ray")
    try:
        stored = {
            doc_id: hashes[0] for doc_id, hashes in library.open_collection("c").document_states().items()
        }
    finally:
        library.close()
    assert (
        len(stage.load([corpus], (), (), {}, max_file_bytes=2**26).chunked) == 14
    )  # the tasks chunk what they read...
    assert (
        stage.load([corpus], (), (), stored, max_file_bytes=2**26).chunked == {}
    )  # ...except what is stored unchanged


@pytest.mark.slow
def test_ray_chunk_sizes_follow_the_window_and_cut_chunks_are_counted(cluster: str, tmp_path: Path) -> None:
    """The cluster reports the model's window, the chunk sizes follow it as a local run's do (the same
    ``IngestOptions.from_settings``), and chunks over the window are counted as the local stage counts
    them."""

    def sized(window: int | None) -> IngestOptions:
        return IngestOptions.from_settings(Settings(), max_input_tokens=window)

    local = load_embedder(MINILM)
    derived = RayStage(cluster, MINILM, sized, actors=1)
    assert derived.max_input_tokens == local.max_input_tokens == 256
    assert derived.options == sized(local.max_input_tokens)
    assert derived.options.max_tokens == chunk_sizes(256)[1] < DEFAULT_MAX_TOKENS
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(4):  # ~2 chunks of up to 400 cl100k tokens each, digits and words: over 256 word pieces
        words = " ".join(f"reading{k * (n + 3)} of 0.{k}{n} mg/kg (p<0.0{k % 9 + 1})" for k in range(90))
        (corpus / f"long{n}.md").write_text(f"# Long {n}\n\n{words}\n")
    wide = IngestOptions(target_tokens=300, max_tokens=400, batch_tokens=2000)
    library = Library(tmp_path / "serial")
    try:
        serial = Ingestor(library, local, wide).ingest_paths([corpus], collection="c")
    finally:
        library.close()
    library = Library(tmp_path / "ray")
    try:
        stage = RayStage(cluster, MINILM, wide)
        distributed = Ingestor(library, stage, wide).ingest_paths([corpus], collection="c")
    finally:
        library.close()
    assert serial.truncated > 0
    assert distributed.truncated == serial.truncated and distributed.chunks == serial.chunks


class RefusingActor(EmbedderActor):
    """Refuses any document holding the word REFUSE, as the pplx model refuses a separator in a chunk."""

    def __init__(self, options: ModelOptions, keep_floats: bool) -> None:
        super().__init__(options, keep_floats)
        inner = self.embedder.embed_documents

        def embed_documents(
            documents: Sequence[Sequence[str]], *, with_floats: bool = False
        ) -> list[Embeddings]:
            if any("REFUSE" in text for texts in documents for text in texts):
                raise InvalidInputError("a chunk holds REFUSE")
            return inner(documents, with_floats=with_floats)

        self.embedder.embed_documents = embed_documents  # type: ignore[method-assign]


def test_a_refused_document_is_that_documents_failure(cluster: str, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 6)
    (corpus / "doc002.md").write_text("# Two\n\nThis one says REFUSE.\n")
    stage = RayStage(cluster, FAKE, OPTIONS, actor_class=RefusingActor)
    summary = ingest(tmp_path / "data", corpus, stage)
    assert summary.added == 5
    assert [(f.name, f.reason) for f in summary.failures][-1] == ("doc002.md", "a chunk holds REFUSE")
    stored = {key[0] for key in rows(tmp_path / "data")}
    assert "doc002.md" not in stored and len(stored) == 5


def dying_actor(marker: Path) -> type[EmbedderActor]:
    """An actor that kills its process on its first batch of the run (once: the marker file remembers)."""

    class DyingActor(EmbedderActor):
        def __call__(self, batch: dict[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
            if not marker.exists():
                marker.write_text("died")
                os._exit(1)
            return super().__call__(batch)

    return DyingActor


def test_a_killed_embedding_actor_is_retried_without_duplicates_or_gaps(cluster: str, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 24)
    marker = tmp_path / "died"
    serial = ingest(tmp_path / "serial", corpus, load_embedder(FAKE))
    stage = RayStage(cluster, FAKE, OPTIONS, actors=2, actor_class=dying_actor(marker))
    distributed = ingest(tmp_path / "ray", corpus, stage)
    assert marker.read_text() == "died"
    assert counts(distributed) == counts(serial)
    assert rows(tmp_path / "ray") == rows(tmp_path / "serial")


def rag_ingest(data: Path, corpus: Path, address: str) -> subprocess.Popen[bytes]:
    chunking = {"RAG_CHUNK_TARGET_TOKENS": "40", "RAG_CHUNK_MAX_TOKENS": "64", "RAG_MAX_BATCH_TOKENS": "300"}
    env = {**os.environ, **chunking, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_RAY_ADDRESS", None)
    model = "all-minilm-l6-v2"
    command = [sys.executable, "-m", "ingest", "--data-dir", str(data), "--doc-model", model]
    command += ["--query-model", model, "ingest", "-c", "c", "--ray", address, str(corpus), "--json"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stored_documents(data: Path) -> int:
    try:
        library = Library(data)
        try:
            return library.open_collection("c").info().documents
        finally:
            library.close()
    except Exception:  # not created yet
        return 0


@pytest.mark.slow
def test_a_killed_driver_leaves_a_consistent_collection_that_a_rerun_finishes(
    cluster: str, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus", 60)
    data = tmp_path / "ray"
    child = rag_ingest(data, corpus, cluster)
    deadline = time.monotonic() + 240
    while stored_documents(data) == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode() if child.stderr else ""
    partial = rows(data)
    serial = ingest(tmp_path / "serial", corpus, load_embedder(MINILM))
    expected = rows(tmp_path / "serial")
    written = {doc for doc, _ in partial}
    assert 0 < len(written) < serial.added  # killed half way: some batches committed, not all
    assert partial == {key: value for key, value in expected.items() if key[0] in written}  # whole docs
    rerun = rag_ingest(data, corpus, cluster)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 1, err.decode()  # the binary file fails, as in every run
    assert rows(data) == expected


def test_without_ray_nothing_imports_ray(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 2)
    code = (
        "import sys\nfrom ingest.cli.main import main\n"
        f"sys.argv = ['rag', '--data-dir', {str(tmp_path / 'data')!r}, '--doc-model', 'fake:16',"
        f" '--query-model', 'fake:16', 'ingest', {str(corpus)!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\nprint('no ray')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("RAG_RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("no ray"), done.stderr
    assert '"added": 2' in done.stdout

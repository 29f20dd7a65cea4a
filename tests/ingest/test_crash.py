"""A run killed with SIGKILL mid-ingestion is finished by the next run, without duplicates."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.fake import HashEmbedder
from rag.search import Searcher
from rag.store import Library

OPTIONS = IngestOptions(target_tokens=32, max_tokens=48, batch_tokens=64)

# Runs in a child process: SIGKILL itself when the third batch reaches the embedder, so two batches have
# committed and the third is lost half way (embedded, not written).
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from ingest.pipeline import IngestOptions, Ingestor
    from rag.embedding.fake import HashEmbedder
    from rag.store import Library

    class Dying(HashEmbedder):
        calls = 0
        def embed_documents(self, documents, *, with_floats=False):
            Dying.calls += 1
            if Dying.calls == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().embed_documents(documents, with_floats=with_floats)

    options = IngestOptions(target_tokens=32, max_tokens=48, batch_tokens=64)
    Ingestor(Library(sys.argv[1]), Dying(32), options).ingest_paths([Path(sys.argv[2])], collection="c")
    """
)


def write_corpus(root: Path) -> None:
    root.mkdir()
    for n in range(8):
        (root / f"doc{n}.txt").write_text(f"Document {n} talks about topic {n}. " * 12)


def test_a_killed_run_is_finished_by_the_next_one(tmp_path: Path) -> None:
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    write_corpus(corpus)
    child = subprocess.run([sys.executable, "-c", CHILD, str(data), str(corpus)], capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()

    library = Library(data)
    partial = len(library.open_collection("c").document_states())
    assert 0 < partial < 8
    summary = Ingestor(library, HashEmbedder(32), OPTIONS).ingest_paths([corpus], collection="c")
    assert (summary.added, summary.skipped) == (8 - partial, partial)
    collection = library.open_collection("c")
    info = collection.info()
    hits = Searcher(collection, HashEmbedder(32)).search("Document 5 talks about topic 5.", top_k=1).hits
    library.close()
    assert hits[0].document_id == "doc5.txt"

    fresh = Library(tmp_path / "fresh")
    expected = Ingestor(fresh, HashEmbedder(32), OPTIONS).ingest_paths([corpus], collection="c")
    fresh.close()
    assert (info.documents, info.chunks) == (8, expected.chunks)

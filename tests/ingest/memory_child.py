"""Child process of test_memory.py: ingest one large document with the offline MiniLM and print, as JSON,
the peak resident size after loading the model and at the end (ru_maxrss, MiB), and the chunks written."""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
from pathlib import Path

from ingest.loaders import SourceDocument
from ingest.pipeline import IngestOptions, Ingestor
from rag.embedding.factory import ModelOptions, load_embedder
from rag.store import Library


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# Long words that both tokenizers read as one token each: many bytes per token keeps a 2 MB document to
# ~750 chunks, so the model's work stays a minute while the text is large.
WORDS = (
    "international consideration responsibility administration characteristics environmental "
    "communication performance significant development information government professional relationship "
    "understanding organization particularly experience management technology"
).split()


def document_text(size: int) -> str:
    """``size`` characters of sentences over ``WORDS`` (deterministic)."""
    rng = random.Random(0)
    words = WORDS
    parts, length = [], 0
    while length < size:
        sentence = " ".join(rng.choice(words) for _ in range(12)) + "."
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)[:size]


def main(size: int, batch_tokens: int) -> None:
    options = ModelOptions(
        doc_model="all-minilm-l6-v2", query_model="all-minilm-l6-v2", max_batch_tokens=batch_tokens
    )
    embedder = load_embedder(options)
    embedder.embed_documents([["warm up the model once"]])
    loaded = peak_mib()
    text = document_text(size)
    with tempfile.TemporaryDirectory() as folder:
        library = Library(Path(folder))
        ingestor = Ingestor(library, embedder, IngestOptions(batch_tokens=batch_tokens))
        summary = ingestor.ingest([SourceDocument(id="big", text=text)], collection="big")
        library.close()
    print(json.dumps({"loaded_mib": loaded, "peak_mib": peak_mib(), "chunks": summary.chunks}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))

"""Child process of the crash test: applies a deterministic stream of writes until it is killed.

Usage: ``python crash_child.py DATA_DIR LOG_FILE FIRST_OP SEED``. Before each write it logs ``begin`` with
the operation, and ``done`` only after the write returned (so a logged ``done`` means committed). It
prints ``ready`` once the collection is open so the parent kills it mid-writes, not mid-import.
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from rag.embedding.fake import HashEmbedder
from rag.fingerprint import ChunkerFingerprint, CollectionFingerprint
from rag.store import Library
from rag.types import ChunkRecord, DocumentRecord

DOCUMENTS = 25
FINGERPRINT = CollectionFingerprint(HashEmbedder(64).fingerprint, ChunkerFingerprint("crash-test", 1, 1, 1))


def operation(i: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed * 1_000_003 + i)
    kind = "delete" if rng.random() < 0.2 else "upsert"
    return {"i": i, "op": kind, "id": f"doc{rng.randrange(DOCUMENTS)}", "chunks": 1 + rng.randrange(6)}


def document_text(op: dict[str, Any]) -> str:
    doc, i = op["id"], op["i"]
    return " ".join(f"{doc} version{i} sentence{j} token{doc}v{i}." for j in range(op["chunks"]))


def build(op: dict[str, Any], embedder: HashEmbedder) -> tuple[DocumentRecord, list[ChunkRecord], Any]:
    text = document_text(op)
    chunks, start = [], 0
    for j, sentence in enumerate(text.split(" " + op["id"] + " ")):
        piece = sentence if j == 0 else op["id"] + " " + sentence
        start = text.index(piece, start)
        chunks.append(ChunkRecord(j, piece, start, start + len(piece), len(piece.split())))
    (embeddings,) = embedder.embed_documents([[c.text for c in chunks]])
    metadata = {"doc": op["id"], "i": op["i"]}
    return DocumentRecord(op["id"], text, f"v{op['i']}", metadata=metadata), chunks, embeddings


def main(data_dir: str, log_path: str, first: int, seed: int) -> None:
    embedder = HashEmbedder(64)
    collection = Library(data_dir, lock_timeout=30).get_or_create_collection("crash", fingerprint=FINGERPRINT)
    with open(log_path, "a", buffering=1) as log:
        print("ready", flush=True)
        for i in range(first, first + 100_000):
            op = operation(i, seed)
            log.write(json.dumps({"begin": op}) + "\n")
            if op["op"] == "upsert":
                collection.upsert_documents([build(op, embedder)])
            else:
                collection.delete_documents([op["id"]])
            log.write(json.dumps({"done": i}) + "\n")
            if i % 9 == 0:
                collection.save_index()  # a kill may also land in a snapshot write
            if i % 13 == 0:
                collection.compact()  # ... or in a compaction


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))

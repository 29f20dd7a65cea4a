"""The public surface of ``rag``: what users import, pinned so a change to it is deliberate."""

from __future__ import annotations

import rag

PUBLIC = {
    "DEFAULT_SEARCH_MODE",
    "AuthError",
    "BusyError",
    "ChunkRecord",
    "ChunkerFingerprint",
    "Citation",
    "Collection",
    "CollectionExistsError",
    "CollectionFingerprint",
    "CollectionInfo",
    "CollectionNotFoundError",
    "ConfigError",
    "ConflictError",
    "Context",
    "CorruptStoreError",
    "DocumentMode",
    "DocumentNotFoundError",
    "DocumentRecord",
    "Embedder",
    "EmbedderFingerprint",
    "EmbeddingError",
    "Embeddings",
    "FingerprintMismatchError",
    "ForbiddenError",
    "FtsFingerprint",
    "HashEmbedder",
    "Hit",
    "InvalidInputError",
    "JobNotFoundError",
    "Library",
    "MetadataFilter",
    "ModelLoadError",
    "ModelOptions",
    "NotFoundError",
    "NotReadyError",
    "PairedEmbedder",
    "RagError",
    "SearchMode",
    "SearchResult",
    "Searcher",
    "SeparatorInChunkError",
    "Settings",
    "StoreError",
    "StoreLockedError",
    "StoredDocument",
    "UnauthorizedError",
    "check_compatible",
    "load_embedder",
    "load_embedder_from_settings",
    "pack_context",
    "retrieve_context",
}


def test_all_is_sorted_and_pinned() -> None:
    assert rag.__all__ == sorted(rag.__all__)
    assert set(rag.__all__) == PUBLIC


def test_every_exported_name_resolves_and_errors_share_one_base() -> None:
    for name in rag.__all__:
        assert getattr(rag, name) is not None, name
    errors = [getattr(rag, name) for name in rag.__all__ if name.endswith("Error")]
    assert all(issubclass(error, rag.RagError) for error in errors)


def test_the_package_does_not_import_the_service_or_ingestion(tmp_path: object) -> None:
    import subprocess
    import sys

    code = "import sys, rag; print(sorted(m for m in sys.modules if m.split('.')[0] in ('api', 'ingest')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""What ``/v1/info`` and ``/readyz`` report about the running service."""

from __future__ import annotations

import logging
import platform
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from api.schemas import Info, Ready
from api.state import AppState
from rag.errors import NotReadyError, RagError

REPORTED_PACKAGES = ("pplx-rag", "fastapi", "numpy", "faiss-cpu", "torch", "transformers")


@cache
def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results, and Python's; missing packages are left out."""
    versions = {"python": platform.python_version()}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


logger = logging.getLogger("api")


def build_info(state: AppState) -> Info:
    embedder = state.ready_embedder()
    fingerprint = embedder.fingerprint
    settings = state.settings
    return Info(
        models={"document": fingerprint.doc_model, "query": fingerprint.query_model},
        dimensions=embedder.dimensions,
        fingerprint=fingerprint.to_dict(),
        versions=dict(package_versions()),
        auth=state.keyring.enabled,
        limits={
            "max_body_bytes": settings.max_body_bytes,
            "max_upload_bytes": settings.max_upload_bytes,
            "background_job_threshold": settings.background_job_threshold,
            "batch_max_queries": settings.batch_max_queries,
            "batch_wait_ms": settings.batch_wait_ms,
            "query_cache_size": settings.query_cache_size,
        },
    )


def readiness(state: AppState) -> Ready:
    """Ready once the model is loaded and the library is open (``NotReadyError`` otherwise)."""
    embedder = state.ready_embedder()
    library = state.ready_library()
    try:
        collections = library.list_collections()
    except RagError as exc:  # the reason may name a collection: logged, not answered (/readyz needs no key)
        logger.warning("readiness: the collections cannot be opened: %s", exc.message)
        raise NotReadyError("the collections cannot be opened (the server log says why).") from None
    return Ready(status="ready", model=embedder.model_name, collections=len(collections))

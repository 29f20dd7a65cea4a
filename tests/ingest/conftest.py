"""Fixtures of the ingestion tests: an offline tiktoken encoding, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiktoken

from ingest.encoding import get_encoding


@pytest.fixture(scope="session")
def tiktoken_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiktoken")


@pytest.fixture(scope="session")
def encoding(tiktoken_cache: Path) -> tiktoken.Encoding:
    return get_encoding("cl100k_base", tiktoken_cache)

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import tiktoken

from ingest.encoding import bundled_encodings, get_encoding
from rag.errors import ConfigError

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def test_bundled_encoding_is_provisioned_into_the_cache_and_loads(
    encoding: tiktoken.Encoding, tiktoken_cache: Path
) -> None:
    cached = tiktoken_cache.resolve() / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    assert cached.is_file()
    assert encoding.name == "cl100k_base"
    assert encoding.decode(encoding.encode("hello world")) == "hello world"


def test_loading_leaves_the_environment_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/somewhere/else")
    get_encoding("o200k_base", tmp_path)
    assert os.environ["TIKTOKEN_CACHE_DIR"] == "/somewhere/else"


def test_a_corrupt_cached_file_is_replaced(tmp_path: Path) -> None:
    cached = tmp_path / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    cached.write_bytes(b"garbage")
    encoding = get_encoding("cl100k_base", tmp_path)
    assert encoding.encode("a") and cached.read_bytes() != b"garbage"


def test_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown tiktoken encoding 'nope'"):
        get_encoding("nope", tmp_path)


def test_both_bundled_encodings_are_offered() -> None:
    assert bundled_encodings() == ("cl100k_base", "o200k_base")


def test_special_token_text_is_encoded_as_ordinary_text(encoding: tiktoken.Encoding) -> None:
    tokens = encoding.encode("a <|endoftext|> b", disallowed_special=())
    assert encoding.eot_token not in tokens

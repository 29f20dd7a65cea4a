"""Settings, read from the environment (prefix ``RAG_``) once, at the edges.

``Settings()`` is built by the command line and by ``api.app.create_app``; plain values are passed down
from there. Core code never reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PPLX_CONTEXT_0_6B = "perplexity-ai/pplx-embed-context-v1-0.6b"
PPLX_V1_0_6B = "perplexity-ai/pplx-embed-v1-0.6b"

Device = Literal["auto", "cpu", "cuda", "mps"]
DType = Literal["auto", "float32", "bfloat16"]
DocumentMode = Literal["auto", "contextual", "isolated"]


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pplx-rag", appauthor=False))


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
    rescore_multiplier: int = Field(4, ge=1, le=100)

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
    background_job_threshold: int = Field(
        8, ge=1, description="Document uploads with more documents than this run as background jobs."
    )
    batch_max_queries: int = Field(32, ge=1, description="Largest query batch of the dynamic batcher.")
    batch_wait_ms: float = Field(5.0, ge=0, description="Longest wait for more queries to batch.")
    query_cache_size: int = Field(1024, ge=0, description="Query embeddings kept in the LRU cache.")

    @field_validator("chunk_max_tokens")
    @classmethod
    def _max_not_below_target(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        target = data.get("chunk_target_tokens")
        if target is not None and value < target:
            raise ValueError(f"chunk_max_tokens ({value}) must be at least chunk_target_tokens ({target}).")
        return value

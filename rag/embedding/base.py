"""The embedding interface every backend implements.

Two calls: ``embed_queries`` (independent texts) and ``embed_documents`` (documents as lists of chunks in
order; every chunk is embedded with its document as context when the backend's document mode is
``contextual``, alone when it is ``isolated``). Both return quantized ``Embeddings``. Two more say what
those calls cost in model tokens: ``count_tokens`` (per query) and ``count_document_tokens`` (per
document); the defaults here are upper-bound estimates, and every real backend counts exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from rag.fingerprint import EmbedderFingerprint
from rag.types import Embeddings

# Special tokens the default estimate allows per text: BERT's [CLS] and [SEP], the most our tokenizers add.
SPECIAL_TOKENS_BOUND = 2


@dataclass(frozen=True)
class ApiUsage:
    """What a billed backend (the hosted API) has used so far: requests, tokens and cost in USD."""

    requests: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: ApiUsage) -> ApiUsage:
        return ApiUsage(
            self.requests + other.requests, self.tokens + other.tokens, self.cost_usd + other.cost_usd
        )

    def __sub__(self, other: ApiUsage) -> ApiUsage:
        return ApiUsage(
            self.requests - other.requests, self.tokens - other.tokens, self.cost_usd - other.cost_usd
        )


class Embedder(ABC):
    """A document and query embedder. ``fingerprint`` identifies everything that shapes its vectors."""

    @property
    @abstractmethod
    def dimensions(self) -> int:
        """Width d of the vectors (after any Matryoshka truncation)."""

    @property
    @abstractmethod
    def fingerprint(self) -> EmbedderFingerprint:
        """Everything that shapes the vectors; collections record it and refuse another."""

    @property
    def max_input_tokens(self) -> int | None:
        """The longest chunk, in document-model tokens with the special tokens, that the document model
        reads whole when the chunk is embedded alone; anything longer is cut. None: no limit (this default,
        for backends that read any length). Chunk sizes are derived from it (``ingest.summary``)."""
        return None

    def count_truncated(self, documents: Sequence[Sequence[str]]) -> list[int]:
        """How many chunks of each document ``embed_documents`` cuts to fit the model: the chunks longer
        than ``max_input_tokens`` (none without a limit). Backends whose cut differs override it."""
        limit = self.max_input_tokens
        if limit is None:
            return [0] * len(documents)
        return [sum(count > limit for count in self.count_tokens(chunks)) for chunks in documents]

    @property
    def model_name(self) -> str:
        """The query model's name, as reported to API clients."""
        return self.fingerprint.query_model

    @property
    def api_usage(self) -> ApiUsage:
        """What this embedder has used of a billed API since it was made; local backends use nothing."""
        return ApiUsage()

    @abstractmethod
    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        """One row per text."""

    @abstractmethod
    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        """One ``Embeddings`` per document, one row per chunk, in the chunks' order."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens each text costs as a query: the tokenizer's special tokens included, the
        backend's truncation not applied (limits must see what the caller sent).

        This default is an upper-bound estimate for backends without a tokenizer: the UTF-8 byte count
        plus ``SPECIAL_TOKENS_BOUND``. It bounds byte-level BPE and WordPiece, whose tokens each cover at
        least one byte, but it is not a count; every backend with a tokenizer overrides it exactly.
        """
        return [len(text.encode("utf-8")) + SPECIAL_TOKENS_BOUND for text in texts]

    def count_document_tokens(self, documents: Sequence[Sequence[str]]) -> list[int]:
        """Model tokens each document costs as the document model reads it (separators included).

        This default is an estimate: the chunks' ``count_tokens`` plus one separator per chunk. It is an
        upper bound whenever ``count_tokens`` is one, since it counts every chunk's special tokens where
        a joined document has them once. Backends override it with their exact count.
        """
        return [sum(self.count_tokens(chunks)) + len(chunks) for chunks in documents]


class PairedEmbedder(Embedder):
    """Documents through one model, queries through another (e.g. pplx-embed-context-v1 + pplx-embed-v1)."""

    def __init__(self, documents: Embedder, queries: Embedder) -> None:
        if documents.dimensions != queries.dimensions:
            raise ValueError(
                f"document model width {documents.dimensions} differs from query model width "
                f"{queries.dimensions}; set the same dimensions for both."
            )
        self.documents = documents
        self.queries = queries

    @property
    def dimensions(self) -> int:
        return self.documents.dimensions

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return self.documents.fingerprint.paired_with(self.queries.fingerprint)

    @property
    def api_usage(self) -> ApiUsage:
        return self.documents.api_usage + self.queries.api_usage

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        return self.queries.embed_queries(texts, with_floats=with_floats)

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        return self.documents.embed_documents(documents, with_floats=with_floats)

    @property
    def max_input_tokens(self) -> int | None:
        return self.documents.max_input_tokens

    def count_truncated(self, documents: Sequence[Sequence[str]]) -> list[int]:
        return self.documents.count_truncated(documents)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.queries.count_tokens(texts)

    def count_document_tokens(self, documents: Sequence[Sequence[str]]) -> list[int]:
        return self.documents.count_document_tokens(documents)

"""The hosted Perplexity API as an embedding backend: model specs ``api:<name>``.

Calls go through the official SDK (``perplexityai``, imported as ``perplexity``): ``embeddings.create``
for pplx-embed-v1 and ``contextualized_embeddings.create`` for pplx-embed-context-v1, with int8 codes
(``base64_int8``); the sign bits are the signs of those codes. Requests are packed within the hosted
limits (``hosted_plan``) and sent ``concurrency`` at a time; the SDK retries 429 and 5xx with backoff,
honouring ``Retry-After``. Every SDK error becomes one ``EmbeddingError`` (or ``ConfigError`` for a
refused key). The fingerprint names the model as the local backends do (``pplx-embed-v1-0.6b``) with
revision ``hosted``, which ``check_compatible`` matches with local weights of the same model.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from rag.embedding.base import ApiUsage, Embedder
from rag.embedding.batching import plan_windows
from rag.embedding.hosted_plan import (
    MAX_CHUNKS,
    MAX_INPUTS,
    MAX_TOKENS_PER_INPUT,
    MAX_TOKENS_PER_REQUEST,
    TokenCounter,
    pack,
)
from rag.errors import ConfigError, EmbeddingError, InvalidInputError
from rag.fingerprint import HOSTED_REVISION, EmbedderFingerprint
from rag.quantization import sign_bits
from rag.types import DocumentMode, Embeddings

DEFAULT_BASE_URL = "https://api.perplexity.ai"
HOSTED_MODELS = (
    "pplx-embed-v1-0.6b",
    "pplx-embed-v1-4b",
    "pplx-embed-context-v1-0.6b",
    "pplx-embed-context-v1-4b",
)
QUANTIZATION = "tanh-int8"  # the local pplx backend's: the same codes
MAX_RETRIES = 5


def make_client(api_key: str | None, base_url: str | None) -> Any:
    """A ``perplexity.Perplexity`` client; no key is a ConfigError that says where to put one."""
    if not api_key:
        raise ConfigError("api: models need an API key; set PERPLEXITY_API_KEY.")
    try:
        import perplexity
    except ImportError:
        raise ConfigError("api: models need the Perplexity SDK: pip install 'pplx-rag[hosted]'.") from None
    return perplexity.Perplexity(
        api_key=api_key, base_url=base_url or DEFAULT_BASE_URL, max_retries=MAX_RETRIES
    )


class HostedEmbedder(Embedder):
    """One hosted model; ``client`` is a ``perplexity.Perplexity``."""

    def __init__(
        self,
        name: str,
        client: Any,
        *,
        counter: TokenCounter,
        document_mode: DocumentMode = DocumentMode.AUTO,
        dimensions: int | None = None,
        concurrency: int = 4,
    ) -> None:
        if name not in HOSTED_MODELS:
            raise ConfigError(f"api:{name} is not a hosted model; use one of {', '.join(HOSTED_MODELS)}.")
        self.name, self.client, self.counter = name, client, counter
        self.contextual = "-context-" in name
        self.document_mode = _document_mode(DocumentMode.parse(document_mode), self.contextual)
        self.concurrency = max(1, concurrency)
        self._usage, self._lock = ApiUsage(), threading.Lock()
        self._requested = dimensions
        # One small request learns the width and proves the key and the address before anything is stored.
        self._dimensions = dimensions or int(self.embed_queries(["dimensions"]).int8.shape[1])

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return EmbedderFingerprint.of_model(
            self.name,
            HOSTED_REVISION,
            dimensions=self._dimensions,
            quantization=QUANTIZATION,
            document_mode=self.document_mode,
        )

    @property
    def api_usage(self) -> ApiUsage:
        with self._lock:
            return self._usage

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        """One row per text; through a context model, each text as the one-chunk document ``[[q]]``.
        No floats, even when asked for (the API returns codes only): ``float-exact`` search is refused."""
        if self.contextual:
            return _concat(self._contextual([[text] for text in texts]), self._width)
        return self._independent(list(texts))

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        _no_floats(with_floats)
        if self.document_mode is DocumentMode.CONTEXTUAL:
            return self._contextual([list(chunks) for chunks in documents])
        rows = self.embed_queries([chunk for chunks in documents for chunk in chunks])
        bounds = np.cumsum([0, *(len(chunks) for chunks in documents)])
        return [_quantized(rows.int8[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.counter.texts(texts)

    def count_document_tokens(self, documents: Sequence[Sequence[str]]) -> list[int]:
        if self.document_mode is DocumentMode.ISOLATED:
            return [sum(self.counter.texts(chunks)) for chunks in documents]
        return [self.counter.document(chunks) for chunks in documents]

    @property
    def _width(self) -> int:
        return getattr(self, "_dimensions", None) or self._requested or 0

    def _independent(self, texts: list[str]) -> Embeddings:
        tokens = self.counter.texts(texts)
        for index, count in enumerate(tokens):
            _check_input(count, f"text {index}")
        requests = pack(
            [(1, t) for t in tokens],
            max_units=MAX_INPUTS,
            max_chunks=MAX_INPUTS,
            max_tokens=MAX_TOKENS_PER_REQUEST,
        )

        def send(batch: range) -> list[np.ndarray]:
            response = self._call(self.client.embeddings.create, [texts[i] for i in batch])
            return _rows(response.data or [], len(batch))

        return _concat(
            [_quantized(np.stack(rows)) if rows else None for rows in self._run(send, requests)], self._width
        )

    def _contextual(self, documents: list[list[str]]) -> list[Embeddings]:
        """Each document's rows; a document over the per-document limit goes as windows of whole chunks.
        Empty chunks (the API refuses them) are left out of the request and get zero rows."""
        windows: list[tuple[int, list[int]]] = []  # (document, chunk indices sent together)
        for d, chunks in enumerate(documents):
            kept = [c for c, chunk in enumerate(chunks) if chunk]
            lengths = self.counter.texts([chunks[c] for c in kept], special=False)
            for c, count in zip(kept, lengths, strict=True):
                _check_input(count + self.counter.special_tokens, f"chunk {c} of document {d}")
            for window in plan_windows(lengths, MAX_TOKENS_PER_INPUT, self.counter.special_tokens):
                windows.append((d, [kept[i] for i in window]))
        units = [(len(ids), self.counter.document([documents[d][c] for c in ids])) for d, ids in windows]
        requests = pack(units, max_units=MAX_INPUTS, max_chunks=MAX_CHUNKS, max_tokens=MAX_TOKENS_PER_REQUEST)

        def send(batch: range) -> list[list[np.ndarray]]:
            sent = [[documents[windows[w][0]][c] for c in windows[w][1]] for w in batch]
            response = self._call(self.client.contextualized_embeddings.create, sent)
            data = sorted(response.data or [], key=lambda item: item.index)
            if len(data) != len(sent):
                raise EmbeddingError(f"the hosted API returned {len(data)} documents for {len(sent)} sent.")
            return [_rows(item.data or [], len(chunks)) for item, chunks in zip(data, sent, strict=True)]

        results = [rows for batch in self._run(send, requests) for rows in batch]
        width = self._width or (len(results[0][0]) if results and results[0] else 0)
        codes = [np.zeros((len(chunks), width), dtype=np.int8) for chunks in documents]
        for (d, ids), rows in zip(windows, results, strict=True):
            for c, row in zip(ids, rows, strict=True):
                codes[d][c] = row[:width]
        return [_quantized(rows) for rows in codes]

    def _run(self, send: Callable[[range], Any], requests: list[range]) -> list[Any]:
        if len(requests) <= 1:
            return [send(batch) for batch in requests]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(send, requests))

    def _call(self, create: Callable[..., Any], inputs: Any) -> Any:
        options: dict[str, Any] = {"input": inputs, "model": self.name, "encoding_format": "base64_int8"}
        if self._requested is not None:
            options["dimensions"] = self._requested
        try:
            response = create(**options)
        except Exception as exc:  # the SDK's errors, translated at this edge
            raise _translated(exc) from None
        self._add_usage(response.usage)
        return response

    def _add_usage(self, usage: Any) -> None:
        tokens = int(getattr(usage, "total_tokens", 0) or 0)
        cost = float(getattr(getattr(usage, "cost", None), "total_cost", 0.0) or 0.0)
        with self._lock:
            self._usage = self._usage + ApiUsage(requests=1, tokens=tokens, cost_usd=cost)


def _document_mode(mode: DocumentMode, contextual: bool) -> DocumentMode:
    if mode is DocumentMode.AUTO:
        return DocumentMode.CONTEXTUAL if contextual else DocumentMode.ISOLATED
    if mode is DocumentMode.CONTEXTUAL and not contextual:
        raise ConfigError(
            "document_mode 'contextual' needs a pplx-embed-context model (api:pplx-embed-context-v1-...)."
        )
    return mode


def _no_floats(with_floats: bool) -> None:
    if with_floats:
        raise ConfigError(
            "the hosted API returns int8 codes only; collections that keep floats need local weights."
        )


def _check_input(tokens: int, what: str) -> None:
    if tokens > MAX_TOKENS_PER_INPUT:
        raise InvalidInputError(
            f"{what} has {tokens} tokens; the hosted API takes at most {MAX_TOKENS_PER_INPUT}."
        )


def _rows(items: Sequence[Any], expected: int) -> list[np.ndarray]:
    """int8 rows of base64_int8 embedding objects, in their ``index`` order."""
    ordered = sorted(items, key=lambda item: item.index)
    if len(ordered) != expected:
        raise EmbeddingError(f"the hosted API returned {len(ordered)} embeddings for {expected} inputs.")
    return [np.frombuffer(base64.b64decode(item.embedding or ""), dtype=np.int8) for item in ordered]


def _quantized(codes: np.ndarray) -> Embeddings:
    """Embeddings of int8 codes (n, d): the bits are the codes' signs (code >= 0), as the local x >= 0."""
    codes = np.asarray(codes, dtype=np.int8)
    return Embeddings(codes, sign_bits(codes), None)


def _concat(parts: Sequence[Embeddings | None], width: int) -> Embeddings:
    kept = [part for part in parts if part is not None and len(part.int8)]
    if not kept:
        return _quantized(np.zeros((0, width), dtype=np.int8))
    return _quantized(np.concatenate([part.int8 for part in kept]))


def _translated(exc: Exception) -> Exception:
    """One RagError for an SDK error: a refused key, an unreachable address, or a refused request."""
    import perplexity

    if isinstance(exc, perplexity.AuthenticationError | perplexity.PermissionDeniedError):
        return ConfigError(
            f"the Perplexity API refused the key ({exc.status_code}); check PERPLEXITY_API_KEY."
        )
    if isinstance(exc, perplexity.APIConnectionError):
        return EmbeddingError(
            f"cannot reach the Perplexity API ({exc}); check RAG_API_BASE_URL and the network."
        )
    if isinstance(exc, perplexity.APIStatusError):
        return EmbeddingError(f"the Perplexity API answered {exc.status_code} after retries: {exc.message}")
    return EmbeddingError(f"the Perplexity API call failed: {exc}")

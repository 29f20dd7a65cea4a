"""A text-embeddings-inference (TEI) server as a pplx backend: model specs ``tei:<url>``.

TEI serves pplx-embed-v1 with ``/embed``: called with ``normalize: false`` it returns the int8 codes as
floats (EMBEDDINGS.md section 4), which this backend rounds back to int8; the sign bits are the codes'
signs. TEI has no contextual endpoint, so documents go chunk by chunk (``document_mode`` isolated) and
contextual mode is refused. ``/info`` gives the model's id and revision (``model_id``, ``model_sha``)
for the fingerprint and the client batch size. Plain ``urllib``: no HTTP dependency in the core.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.embedding.base import Embedder
from rag.errors import ConfigError, EmbeddingError
from rag.fingerprint import EmbedderFingerprint
from rag.quantization import sign_bits
from rag.types import DocumentMode, Embeddings

QUANTIZATION = "tanh-int8"
TIMEOUT_S = 120.0


class TeiEmbedder(Embedder):
    """Queries and isolated chunks through a TEI server at ``url`` (``token``: its bearer token)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        document_mode: DocumentMode = DocumentMode.AUTO,
        dimensions: int | None = None,
    ) -> None:
        mode = DocumentMode.parse(document_mode)
        if mode is DocumentMode.CONTEXTUAL:
            raise ConfigError(
                "a tei: model cannot embed documents in context (TEI has no contextual endpoint); use "
                "document_mode isolated, or a local or api: pplx-embed-context model for documents."
            )
        self.url, self.token, self.document_mode = url.rstrip("/"), token, DocumentMode.ISOLATED
        self.info = self._request("GET", "/info")
        self.batch = max(1, int(self.info.get("max_client_batch_size", 32)))
        self._requested = dimensions
        self._dimensions = dimensions or int(self.embed_queries(["dimensions"]).int8.shape[1])

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        name = str(self.info.get("model_id") or self.url)
        revision = str(self.info.get("model_sha") or "tei")
        return EmbedderFingerprint.of_model(
            name,
            revision,
            dimensions=self._dimensions,
            quantization=QUANTIZATION,
            document_mode=self.document_mode,
        )

    def embed_queries(self, texts: Sequence[str], *, with_floats: bool = False) -> Embeddings:
        """One row per text; no floats (TEI returns the codes only)."""
        rows = [self._embed(list(texts[i : i + self.batch])) for i in range(0, len(texts), self.batch)]
        width = getattr(self, "_dimensions", 0)
        codes = np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.int8)
        return Embeddings(codes, sign_bits(codes), None)

    def embed_documents(
        self, documents: Sequence[Sequence[str]], *, with_floats: bool = False
    ) -> list[Embeddings]:
        if with_floats:
            raise ConfigError(
                "a tei: model returns int8 codes only; collections that keep floats need local weights."
            )
        rows = self.embed_queries([chunk for chunks in documents for chunk in chunks])
        bounds = np.cumsum([0, *(len(chunks) for chunks in documents)])
        return [
            Embeddings(rows.int8[a:b], rows.bits[a:b], None)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def _embed(self, texts: list[str]) -> np.ndarray:
        body: dict[str, Any] = {"inputs": texts, "normalize": False, "truncate": True}
        if self._requested is not None:
            body["dimensions"] = self._requested
        values = np.asarray(self._request("POST", "/embed", body), dtype=np.float32)
        if values.ndim != 2 or len(values) != len(texts):
            raise EmbeddingError(
                f"the TEI server at {self.url} returned {values.shape} for {len(texts)} texts."
            )
        codes = np.rint(values)
        if np.abs(values - codes).max(initial=0) > 1e-3 or np.abs(codes).max(initial=0) > 128:
            raise EmbeddingError(
                f"the TEI server at {self.url} does not return pplx int8 codes (serve a pplx-embed-v1 model)."
            )
        return codes.astype(np.int8)

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise EmbeddingError(
                f"the TEI server at {self.url} answered {exc.code} to {path}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise EmbeddingError(f"cannot reach the TEI server at {self.url} ({exc}).") from None

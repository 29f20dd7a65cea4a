"""TEI's embedding API (text-embeddings-inference ``/embed``, ``/`` and ``/info``) over the query model.

For pplx models TEI returns the int8 codes as floats (tanh → ×127 → round, EMBEDDINGS.md section 4),
L2-normalised unless ``normalize`` is false; ``dimensions`` is the Matryoshka prefix, taken before
normalising. So ``normalize: false`` gives exactly the codes the project stores.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.state import AppState
from api.wire import Dimensions
from rag.errors import InvalidInputError

MAX_INPUT_TOKENS = 32_768  # the pplx models' max_position_embeddings
MAX_CLIENT_BATCH = 512
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class TeiEmbedRequest(BaseModel):
    """TEI's ``EmbedRequest`` (its router's ``types.rs``): unknown fields are ignored, as there."""

    model_config = ConfigDict(extra="ignore")

    inputs: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=MAX_CLIENT_BATCH)] = Field(
        description="A text or a list of texts, embedded with the query model."
    )
    normalize: bool = Field(
        True, description="Unit-length vectors; false: pplx's int8-valued floats, as TEI."
    )
    truncate: bool | None = Field(
        False, description="true: inputs over the token limit are cut by the model; false: refused (422)."
    )
    dimensions: Dimensions = None

    def texts(self) -> list[str]:
        return [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)


def _embed(state: AppState, request: TeiEmbedRequest) -> list[list[float]]:
    embedder = state.ready_embedder()
    texts = request.texts()
    width = request.dimensions or embedder.dimensions
    if width > embedder.dimensions:
        raise InvalidInputError(f"dimensions must be at most {embedder.dimensions}, got {width}.")
    if not request.truncate:
        for index, tokens in enumerate(embedder.count_tokens(texts)):
            if tokens > MAX_INPUT_TOKENS:
                raise InvalidInputError(
                    f"input {index} has {tokens} tokens, over {MAX_INPUT_TOKENS}; send truncate: true."
                )
    rows = embedder.embed_queries(texts).int8[:, :width].astype(np.float32)
    if request.normalize:
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    values: list[list[float]] = rows.tolist()
    return values


async def embed(state: AppState, request: TeiEmbedRequest) -> list[list[float]]:
    """One float list per input, through the query model on the model's thread."""
    state.ready_embedder()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(state.model_executor, _embed, state, request)


def info(state: AppState, version: str) -> dict[str, Any]:
    """TEI's ``/info``: the served (query) model and the limits; ``model_sha`` is its revision."""
    embedder = state.ready_embedder()
    fingerprint = embedder.fingerprint
    return {
        "model_id": fingerprint.query_model,
        "model_sha": fingerprint.query_revision,
        "model_dtype": "float32",
        "model_type": {"embedding": {"pooling": "mean"}},
        "dimensions": embedder.dimensions,
        "quantization": fingerprint.query_quantization,
        "max_concurrent_requests": 512,
        "max_input_length": MAX_INPUT_TOKENS,
        "max_batch_tokens": state.settings.max_batch_tokens,
        "max_client_batch_size": MAX_CLIENT_BATCH,
        "tokenization_workers": 1,
        "version": version,
    }

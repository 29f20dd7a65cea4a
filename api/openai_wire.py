"""OpenAI's wire format on ``/v1/embeddings`` and ``/v1/models``, so OpenAI-compatible apps work locally.

``encoding_format`` ``float`` answers each vector as JSON numbers and ``base64`` as base64 of its
little-endian float32 bytes (what the OpenAI SDK asks for by default and decodes itself). The vectors are
the model's float embeddings, renormalized to unit length after any Matryoshka prefix (pplx-embed's
pooled vectors are not normalized; EMBEDDINGS.md), so a dot product is a cosine, as OpenAI's are.
Errors on these routes carry OpenAI's error object (``api.errors.SdkErrorRoute``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from api.served_models import ModelCatalog
from api.wire import FloatFormat
from rag.errors import NotFoundError
from rag.types import Embeddings

OWNER = "pplx-rag"


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = Field("embedding", description="Always 'embedding'.")
    index: int = Field(description="Position of the input this vector embeds.")
    embedding: list[float] | str = Field(
        description="Unit-length float vector: numbers (float) or base64 of little-endian float32 (base64)."
    )


class OpenAIUsage(BaseModel):
    prompt_tokens: int = Field(description="Model tokens of the inputs (the served model's tokenizer).")
    total_tokens: int = Field(description="The same count (embeddings have no completion tokens).")


class OpenAIEmbeddingsResponse(BaseModel):
    """The answer to ``encoding_format`` ``float`` or ``base64``: OpenAI's shape."""

    object: Literal["list"] = Field("list", description="Always 'list'.")
    data: list[OpenAIEmbedding] = Field(description="One vector per input, in input order.")
    model: str = Field(description="The model name the request gave.")
    usage: OpenAIUsage = Field(description="Tokens the request cost.")


class ModelObject(BaseModel):
    id: str = Field(description="A name the served model answers to (its name, spec or an alias).")
    object: Literal["model"] = Field("model", description="Always 'model'.")
    created: int = Field(description="Unix time the service took the model up.")
    owned_by: str = Field(OWNER, description="Who serves the model (this service).")


class ModelList(BaseModel):
    object: Literal["list"] = Field("list", description="Always 'list'.")
    data: list[ModelObject] = Field(description="The served models and their aliases, each name once.")


class SdkError(BaseModel):
    message: str = Field(description="What went wrong, and what to do about it.")
    type: str = Field(description="The error_type.")
    param: str | None = Field(None, description="The request field at fault, when one is.")
    code: str = Field(description="The error_type.")


class SdkErrorBody(BaseModel):
    """The error body of the OpenAI-compatible routes: OpenAI's error object (which the OpenAI and
    Perplexity SDKs read), and the service's ``error_type`` beside it."""

    error: SdkError = Field(description="OpenAI's error object.")
    error_type: str = Field(description="Stable identifier: validation_error, not_found, unauthorized, ...")


def unit_floats(embeddings: Embeddings, width: int) -> np.ndarray:
    """``(n, width) float32``: the first ``width`` float dims of each row, scaled to unit length (a zero row
    stays zero)."""
    if embeddings.floats is None:
        raise ValueError("unit_floats needs embeddings computed with_floats=True")
    prefix = embeddings.floats[:, :width].astype(np.float64)
    norms = np.linalg.norm(prefix, axis=1, keepdims=True)
    return (prefix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def float_rows(vectors: np.ndarray, encoding: FloatFormat) -> Sequence[list[float] | str]:
    """One JSON list of numbers, or one base64 string of little-endian float32, per row."""
    if encoding == "float":
        rows: list[list[float]] = vectors.tolist()
        return rows
    little_endian = np.ascontiguousarray(vectors, dtype="<f4")
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in little_endian]


def openai_embeddings_response(
    rows: Sequence[list[float] | str], model: str, tokens: int
) -> OpenAIEmbeddingsResponse:
    data = [OpenAIEmbedding(index=i, embedding=row) for i, row in enumerate(rows)]
    return OpenAIEmbeddingsResponse(
        data=data, model=model, usage=OpenAIUsage(prompt_tokens=tokens, total_tokens=tokens)
    )


def model_list(catalog: ModelCatalog) -> ModelList:
    return ModelList(data=[ModelObject(id=name, created=catalog.created) for name in catalog.ids()])


def model_object(catalog: ModelCatalog, requested: str) -> ModelObject:
    """The model object of any name the served models answer to (404 ``not_found`` for another)."""
    if not catalog.knows(requested):
        names = ", ".join(repr(name) for name in catalog.ids())
        raise NotFoundError(f"model {requested!r} is not served here; the served models are {names}.")
    return ModelObject(id=requested, created=catalog.created)

"""The hosted pplx-embed API's wire format (EMBEDDINGS.md section 7), so its clients work locally.

``POST /v1/embeddings`` takes ``input`` (a string or up to 512), ``POST /v1/contextualizedembeddings``
takes documents as lists of chunks (up to 512 documents, 16,000 chunks); both take ``model``,
``dimensions`` (a Matryoshka prefix) and ``encoding_format``: ``base64_int8`` (d signed bytes) or
``base64_binary`` (d/8 bytes of sign bits, **LSB first**, unlike the project's big-endian ``packbits``).
``/v1/embeddings`` also speaks OpenAI's format (``float``, ``base64``, ``user``; see ``api.openai_wire``).
Token limits: 32,000 per input or document, 120,000 per request, counted by the embedder
(``count_tokens`` for inputs, ``count_document_tokens`` for documents, separators included): exactly,
with the served model's tokenizer, for every backend here. ``usage`` reports the same counts.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ingest.encoding import get_encoding
from rag.errors import InvalidInputError
from rag.quantization import msb_to_lsb_bits
from rag.types import Embeddings

MAX_INPUTS = 512
MAX_CHUNKS = 16_000
MAX_TOKENS_PER_INPUT = 32_000
MAX_TOKENS_PER_REQUEST = 120_000

EncodingFormat = Literal["base64_int8", "base64_binary"]
# OpenAI's: the unit-length float vectors as JSON numbers, or as base64 of little-endian float32.
FloatFormat = Literal["float", "base64"]
TextsFormat = Literal["base64_int8", "base64_binary", "float", "base64"]  # one Literal: one clear 422
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
# OpenAI's API also takes texts as token ids. Clients that send them (langchain-openai by default, and the
# apps built on it) tokenize with tiktoken: cl100k_base for every model name OpenAI does not know.
TOKEN_ID_ENCODING = "cl100k_base"


# The schema's bound on ``dimensions``: wider than any embedding model served (pplx-embed 4b is 2560 wide);
# the served model's own width is checked per request (``check_dimensions``).
MAX_DIMENSIONS = 8192
# the Matryoshka prefix field of every embeddings request (OpenAI/Perplexity and TEI)
Dimensions = Annotated[
    int | None,
    Field(
        ge=1,
        le=MAX_DIMENSIONS,
        description=f"Matryoshka prefix (at most the served width; the schema's bound is {MAX_DIMENSIONS}); "
        "default: the full width.",
    ),
]


class _EmbedBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1, description="The served model: its id, its name without the org, or an alias."
    )
    dimensions: Dimensions = None


class EmbeddingsRequest(_EmbedBase):
    """Independent texts (queries, or documents embedded alone)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"input": ["what is late chunking?"], "model": "pplx-embed-v1-0.6b"},
                {"input": "what is late chunking?", "model": "all-minilm-l6-v2", "encoding_format": "float"},
            ]
        },
    )

    input: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=MAX_INPUTS)]
    encoding_format: TextsFormat = Field(
        "base64_int8",
        description="base64_int8 or base64_binary (the hosted pplx API's codes), float or base64 (OpenAI's: "
        "unit-length float32 vectors, as numbers or little-endian bytes).",
    )
    user: str | None = Field(None, description="Accepted for OpenAI clients and ignored.")

    @model_validator(mode="before")
    @classmethod
    def _decode_token_ids(cls, data: Any) -> Any:
        """Texts given as token ids (OpenAI's ``list[int]`` and ``list[list[int]]`` inputs) are decoded
        with ``TOKEN_ID_ENCODING`` and embedded as text, as the client meant them."""
        given = data.get("input") if isinstance(data, dict) else None
        if not isinstance(given, list) or not given:
            return data
        if all(_is_token(item) for item in given):  # one text as token ids
            return {**data, "input": [decode_token_ids(given)]}
        if any(_token_ids(item) for item in given):
            texts = [decode_token_ids(item) if _token_ids(item) else item for item in given]
            return {**data, "input": texts}
        return data

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


def _is_token(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def _token_ids(item: object) -> bool:
    """A text as a non-empty list of token ids."""
    return isinstance(item, list) and bool(item) and all(_is_token(token) for token in item)


def decode_token_ids(ids: list[int]) -> str:
    """The text of ``ids`` in ``TOKEN_ID_ENCODING`` (a client that cut a long text into token windows may
    split a character: its bytes become U+FFFD); an id outside the vocabulary is a ``ValueError`` (422)."""
    encoding = get_encoding(TOKEN_ID_ENCODING)
    try:
        return str(encoding.decode(ids, errors="replace"))
    except (KeyError, OverflowError):  # an unknown id (the vocabulary has holes), or a negative / huge one
        bad = next((token for token in ids if not _decodable(encoding, token)), ids[0])
        raise ValueError(
            f"input given as token ids cannot be decoded: token id {bad} is not in {TOKEN_ID_ENCODING}."
        ) from None


def _decodable(encoding: Any, token: int) -> bool:
    try:
        encoding.decode_single_token_bytes(token)
    except (KeyError, OverflowError):
        return False
    return True


class ContextualizedEmbeddingsRequest(_EmbedBase):
    """Documents as their chunks in order; each chunk is embedded with its document as context."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "input": [["Late chunking embeds a document once.", "Each chunk then pools its span."]],
                    "model": "pplx-embed-context-v1-0.6b",
                    "encoding_format": "base64_binary",
                }
            ]
        },
    )

    input: list[Annotated[list[NonEmpty], Field(min_length=1)]] = Field(min_length=1, max_length=MAX_INPUTS)
    encoding_format: EncodingFormat = "base64_int8"

    @model_validator(mode="after")
    def _chunk_limit(self) -> ContextualizedEmbeddingsRequest:
        total = sum(len(document) for document in self.input)
        if total > MAX_CHUNKS:
            raise ValueError(f"at most {MAX_CHUNKS} chunks per request, got {total}")
        return self


class EmbeddingObject(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: str = Field(description="base64 of int8 codes or of LSB-first sign bits.")


class ContextualizedObject(BaseModel):
    object: Literal["list"] = "list"
    index: int
    data: list[EmbeddingObject]


class Cost(BaseModel):
    input_cost: float
    total_cost: float
    currency: Literal["USD"] = "USD"


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int
    cost: Cost


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingObject]
    model: str
    usage: Usage


class ContextualizedEmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[ContextualizedObject]
    model: str
    usage: Usage


def check_dimensions(dimensions: int | None, served: int, encoding: TextsFormat) -> int:
    """The width to return: ``dimensions`` within the served width (a multiple of 8 for bits)."""
    width = served if dimensions is None else dimensions
    if width > served:
        raise InvalidInputError(f"dimensions must be at most {served} for this model, got {width}.")
    if encoding == "base64_binary" and width % 8:
        raise InvalidInputError(f"base64_binary needs dimensions divisible by 8, got {width}.")
    return width


def check_tokens(per_input: Sequence[int]) -> int:
    """The request's total tokens, once each input and the total are within the hosted limits."""
    for index, tokens in enumerate(per_input):
        if tokens > MAX_TOKENS_PER_INPUT:
            raise InvalidInputError(
                f"input {index} has {tokens} tokens; the limit is {MAX_TOKENS_PER_INPUT} per input."
            )
    total = int(sum(per_input))
    if total > MAX_TOKENS_PER_REQUEST:
        raise InvalidInputError(f"the request has {total} tokens; the limit is {MAX_TOKENS_PER_REQUEST}.")
    return total


def encode_rows(embeddings: Embeddings, width: int, encoding: EncodingFormat) -> list[str]:
    """base64 strings, one per row: int8 codes, or LSB-first sign bits, of the first ``width`` dims."""
    if encoding == "base64_int8":
        rows: Any = np.ascontiguousarray(embeddings.int8[:, :width])
    else:
        rows = msb_to_lsb_bits(embeddings.bits[:, : width // 8])
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in rows]


def usage(tokens: int) -> Usage:
    """A local server charges nothing; the shape is the hosted API's."""
    return Usage(prompt_tokens=tokens, total_tokens=tokens, cost=Cost(input_cost=0.0, total_cost=0.0))


def embeddings_response(rows: list[str], model: str, tokens: int) -> EmbeddingsResponse:
    data = [EmbeddingObject(index=i, embedding=row) for i, row in enumerate(rows)]
    return EmbeddingsResponse(data=data, model=model, usage=usage(tokens))


def contextualized_response(
    documents: list[list[str]], model: str, tokens: int
) -> ContextualizedEmbeddingsResponse:
    data = [
        ContextualizedObject(
            index=d, data=[EmbeddingObject(index=c, embedding=row) for c, row in enumerate(rows)]
        )
        for d, rows in enumerate(documents)
    ]
    return ContextualizedEmbeddingsResponse(data=data, model=model, usage=usage(tokens))

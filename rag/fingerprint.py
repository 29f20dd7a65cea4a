"""The fingerprint of what built a collection: the one definition, the one check, the one message.

A collection records, once, at creation, what shapes its vectors and its chunks; every later reader or
writer is checked against it, so vectors of another model (or chunks of another chunker) are an error,
never silent garbage. Three parts, each a frozen dataclass with a JSON form (``to_dict``/``from_dict``):

- ``EmbedderFingerprint``: document and query models with their revisions, width, quantization and
  document mode (every backend builds one through ``EmbedderFingerprint.of_model``);
- ``ChunkerFingerprint``: tiktoken encoding, chunk sizes and the chunker's version;
- ``FtsFingerprint``: the FTS5 tokenizer of the lexical index.

``CollectionFingerprint`` holds the three; ``check_compatible`` compares a stored fingerprint with the one
in use and raises ``FingerprintMismatchError`` naming each differing field, stored and given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, TypeVar

from rag.errors import CorruptStoreError, FingerprintMismatchError

# The FTS5 tokenizer every collection's lexical index is built with (``rag.store.schema`` creates it).
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
# The revision of a model served by the hosted Perplexity API: whatever it serves under that name.
HOSTED_REVISION = "hosted"
_ORG_PREFIX = "perplexity-ai/"


_Part = TypeVar("_Part")


@dataclass(frozen=True)
class EmbedderFingerprint:
    """Everything that shapes a collection's vectors. ``dimensions`` is the width after any Matryoshka
    truncation; ``quantization`` names the int8 scheme (``tanh-int8``, ``scaled-int8:<scale>``)."""

    doc_model: str
    doc_revision: str
    query_model: str
    query_revision: str
    dimensions: int
    quantization: str
    query_quantization: str
    document_mode: str

    @classmethod
    def of_model(
        cls, name: str, revision: str, *, dimensions: int, quantization: str, document_mode: str
    ) -> EmbedderFingerprint:
        """One model that embeds both documents and queries."""
        return cls(name, revision, name, revision, dimensions, quantization, quantization, document_mode)

    def paired_with(self, queries: EmbedderFingerprint) -> EmbedderFingerprint:
        """Documents through this model, queries through ``queries``."""
        return replace(
            self,
            query_model=queries.query_model,
            query_revision=queries.query_revision,
            query_quantization=queries.query_quantization,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbedderFingerprint:
        return _parse(cls, data, "embedder")


@dataclass(frozen=True)
class ChunkerFingerprint:
    """The chunker's settings; ``version`` is bumped when a change can move chunk boundaries."""

    encoding: str
    target_tokens: int
    max_tokens: int
    version: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChunkerFingerprint:
        return _parse(cls, data, "chunker")


@dataclass(frozen=True)
class FtsFingerprint:
    """The lexical index: FTS5 tokenizer, content table and query form (fixed at creation: changing
    them needs a reindex)."""

    tokenizer: str = FTS_TOKENIZER
    content: str = "external:chunks"
    query: str = "quoted-terms-or"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FtsFingerprint:
        return _parse(cls, data, "fts")


@dataclass(frozen=True)
class CollectionFingerprint:
    """What built a collection. ``chunker`` is None for collections written without the ingestion
    pipeline (vectors given directly through the store); such collections accept any chunker."""

    embedder: EmbedderFingerprint
    chunker: ChunkerFingerprint | None = None
    fts: FtsFingerprint = FtsFingerprint()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"embedder": self.embedder.to_dict(), "fts": self.fts.to_dict()}
        if self.chunker is not None:
            data["chunker"] = self.chunker.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionFingerprint:
        chunker = data.get("chunker")
        return cls(
            embedder=EmbedderFingerprint.from_dict(data.get("embedder") or {}),
            chunker=None if chunker is None else ChunkerFingerprint.from_dict(chunker),
            fts=FtsFingerprint.from_dict(data.get("fts") or {}),
        )


def check_compatible(
    collection: str,
    stored: CollectionFingerprint,
    *,
    embedder: EmbedderFingerprint,
    chunker: ChunkerFingerprint | None = None,
) -> None:
    """Raise ``FingerprintMismatchError`` unless ``embedder`` (and ``chunker``, when given) are the ones
    that built ``collection``; the message names each differing field, stored and given."""
    differing = _differences("embedder", stored.embedder, embedder)
    if chunker is not None and stored.chunker != chunker:
        differing += _differences("chunker", stored.chunker, chunker)
    if differing:
        parts = " and ".join(dict.fromkeys(item.split(".")[0] for item in differing))
        raise FingerprintMismatchError(
            f"Collection {collection!r} was built with a different {parts} ({'; '.join(differing)}). "
            "Use the models and chunk settings that built it, or ingest into a new collection."
        )


def canonical_model(name: str) -> str:
    """The name a model family is known by: a hub id without Perplexity's org, lower-cased, so that
    ``perplexity-ai/pplx-embed-v1-0.6b``, a folder named ``pplx-embed-v1-0.6b`` and the hosted
    ``api:pplx-embed-v1-0.6b`` (fingerprinted as ``pplx-embed-v1-0.6b``) are one model."""
    lowered = name.lower()
    return lowered.removeprefix(_ORG_PREFIX)


def _same_model(old: dict[str, Any], new: dict[str, Any], side: str) -> bool:
    """Equal names and revisions, or the same model family where one side is the hosted API (its
    revision is unknown; the tests check that its codes are the local weights' codes)."""
    names, revisions = (
        (old[f"{side}_model"], new[f"{side}_model"]),
        (old[f"{side}_revision"], new[f"{side}_revision"]),
    )
    if names[0] == names[1] and revisions[0] == revisions[1]:
        return True
    hosted = HOSTED_REVISION in revisions
    return hosted and canonical_model(names[0]) == canonical_model(names[1])


def _differences(part: str, stored: Any, given: Any) -> list[str]:
    if stored is None:  # written without a chunker (vectors given to the store directly)
        return [f"{part}: stored none, given {asdict(given)}"]
    old, new = asdict(stored), asdict(given)
    keys = list(old)
    if part == "embedder":
        for side in ("doc", "query"):
            if _same_model(old, new, side):
                keys = [key for key in keys if key not in (f"{side}_model", f"{side}_revision")]
    return [f"{part}.{key}: stored {old[key]!r}, given {new[key]!r}" for key in keys if old[key] != new[key]]


def _parse(cls: type[_Part], data: Mapping[str, Any], part: str) -> _Part:
    """A fingerprint part from its JSON form; a stored form that does not fit is a corrupt store."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    try:
        return cls(**{key: value for key, value in data.items() if key in names})
    except TypeError as exc:
        raise CorruptStoreError(f"the collection's {part} fingerprint cannot be read ({exc}).") from None

"""The served models under every name they answer to, for the embeddings routes and ``/v1/models``.

A model answers to its name (the fingerprint's: a hub id, a folder's own name, ``all-minilm-l6-v2``,
``fake:<d>``), to its spec as configured, to the last path part of either, and to the aliases of
``RAG_MODEL_ALIASES`` that name one of those. The names come from the settings without loading anything
(``rag.embedding.factory.model_name``: the rule the loaded model's fingerprint follows), so an alias
naming no served model stops the service at start, and ``/v1/models`` answers while the model loads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rag.embedding.base import Embedder
from rag.embedding.factory import model_name
from rag.errors import ConfigError, NotFoundError
from rag.settings import Settings

Side = Literal["document", "query"]


def model_names(spec: str) -> set[str]:
    """Names a model spec answers to: the spec (hub id or folder) and its last path part."""
    tail = spec.rstrip("/").rsplit("/", 1)[-1]
    return {spec, tail} if tail else {spec}


@dataclass(frozen=True)
class ServedModel:
    """One served model: ``name`` as listed, ``own_names`` (name, spec and their last path parts) and the
    aliases that name it, in the order configured."""

    name: str
    own_names: frozenset[str]
    aliases: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, spec: str) -> ServedModel:
        return cls(name, frozenset(model_names(name) | model_names(spec)))

    def answers_to(self, requested: str) -> bool:
        return requested in self.own_names or requested in self.aliases

    def ids(self) -> list[str]:
        return [self.name, *self.aliases]


@dataclass(frozen=True)
class ModelCatalog:
    """The document and the query model (one model may be both) and when the service took them up."""

    document: ServedModel
    query: ServedModel
    created: int

    def side(self, side: Side) -> ServedModel:
        return self.document if side == "document" else self.query

    def check(self, requested: str, side: Side) -> None:
        """Refuse a name the ``side`` model does not answer to (404 ``not_found``, naming those it does)."""
        served = self.side(side)
        if not served.answers_to(requested):
            accepted = sorted(served.own_names) + list(served.aliases)
            names = ", ".join(repr(name) for name in accepted)
            raise NotFoundError(
                f"model {requested!r} is not served here as the {side} model; use one of {names}."
            )

    def ids(self) -> list[str]:
        """Every name ``/v1/models`` lists: each model's name and its aliases, once each."""
        return list(dict.fromkeys(self.document.ids() + self.query.ids()))

    def knows(self, requested: str) -> bool:
        return self.document.answers_to(requested) or self.query.answers_to(requested)


def build_catalog(settings: Settings, embedder: Embedder | None = None) -> ModelCatalog:
    """The catalog of the configured models (of ``embedder`` when one is given in their place), with the
    aliases of ``settings.model_aliases``; ``ConfigError`` for an alias that names no served model."""
    if embedder is None:
        document = ServedModel.of(model_name(settings.doc_model), settings.doc_model)
        query = ServedModel.of(model_name(settings.query_model), settings.query_model)
    else:
        fingerprint = embedder.fingerprint
        document = ServedModel.of(fingerprint.doc_model, fingerprint.doc_model)
        query = ServedModel.of(fingerprint.query_model, fingerprint.query_model)
    document, query = _with_aliases(document, query, settings.model_aliases)
    return ModelCatalog(document, query, created=int(time.time()))


def _with_aliases(
    document: ServedModel, query: ServedModel, aliases: Mapping[str, str]
) -> tuple[ServedModel, ServedModel]:
    """Each alias added to the models whose own names hold its target (both, when one model serves both)."""
    served = {"document": document, "query": query}
    added: dict[str, list[str]] = {"document": [], "query": []}
    for alias, target in aliases.items():
        sides = [side for side, model in served.items() if target in model.own_names]
        if not sides:
            names = ", ".join(sorted(document.own_names | query.own_names))
            raise ConfigError(
                f"RAG_MODEL_ALIASES: {alias}={target} names a model that is not served; served: {names}."
            )
        taken = [side for side, model in served.items() if alias in model.own_names and side not in sides]
        if taken:
            raise ConfigError(
                f"RAG_MODEL_ALIASES: the alias {alias!r} is already the name of the {taken[0]} model."
            )
        for side in sides:
            added[side].append(alias)
    return (
        ServedModel(document.name, document.own_names, tuple(added["document"])),
        ServedModel(query.name, query.own_names, tuple(added["query"])),
    )

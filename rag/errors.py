"""Every error the project raises on purpose, in one hierarchy.

Callers catch ``RagError`` (or a branch of it); the API maps ``error_type`` to an HTTP status and the
command line maps ``exit_code`` to its exit status. Messages are whole sentences that say what to do.

::

    RagError
    ├── ConfigError                  bad settings or option combinations           (exit 2)
    ├── ModelLoadError               a model folder / hub id that cannot be loaded  (exit 2)
    ├── InvalidInputError            input the service refuses (422)                (exit 2)
    │   └── SeparatorInChunkError    a chunk contains the context model's separator
    ├── NotFoundError                (404)
    │   ├── CollectionNotFoundError
    │   ├── DocumentNotFoundError
    │   └── JobNotFoundError
    ├── ConflictError                (409)
    │   ├── CollectionExistsError
    │   └── FingerprintMismatchError a collection built by another embedder
    ├── StoreError                   the storage layer failed (500)
    │   ├── StoreLockedError         another writer holds the collection (429 busy)
    │   └── CorruptStoreError        files that cannot be read back
    ├── EmbeddingError               the embedding backend failed at run time (500)
    ├── AuthError
    │   ├── UnauthorizedError        no or unknown API key (401)
    │   └── ForbiddenError           key lacks the role or collection (403)
    ├── BusyError                    overloaded; retry later (429)
    └── NotReadyError                model or indexes not loaded yet (503)
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every deliberate error; ``error_type`` is stable and appears in API error bodies."""

    error_type = "internal_error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(RagError):
    """Settings or options that do not fit together."""

    error_type = "config_error"
    exit_code = 2


class ModelLoadError(RagError):
    """A model that cannot be loaded (no such folder, hub unreachable, unknown layout)."""

    error_type = "model_load_error"
    exit_code = 2


class InvalidInputError(RagError):
    """Input the service refuses: empty lists, bad filters, oversized documents."""

    error_type = "validation_error"
    exit_code = 2


class SeparatorInChunkError(InvalidInputError):
    """A chunk contains the literal separator text, which would silently split it in two."""


class NotFoundError(RagError):
    """Something named by the caller does not exist."""

    error_type = "not_found"


class CollectionNotFoundError(NotFoundError):
    """No collection of that name."""


class DocumentNotFoundError(NotFoundError):
    """No document of that id in the collection."""


class JobNotFoundError(NotFoundError):
    """No background job of that id."""


class ConflictError(RagError):
    """The request conflicts with what is stored."""

    error_type = "conflict"


class CollectionExistsError(ConflictError):
    """A collection of that name exists already."""


class FingerprintMismatchError(ConflictError):
    """The collection was built by an embedder whose fingerprint differs from the one in use."""

    error_type = "fingerprint_mismatch"


class StoreError(RagError):
    """The storage layer failed."""

    error_type = "store_error"


class StoreLockedError(StoreError):
    """Another writer holds the collection's write lock."""

    error_type = "busy"


class CorruptStoreError(StoreError):
    """Stored files that cannot be read back."""

    error_type = "corrupt_store"


class EmbeddingError(RagError):
    """The embedding backend failed at run time."""

    error_type = "embedding_error"


class AuthError(RagError):
    """Authentication or authorisation failed."""

    error_type = "unauthorized"


class UnauthorizedError(AuthError):
    """No API key, or one that is not known."""


class ForbiddenError(AuthError):
    """The API key lacks the role or the collection the request needs."""

    error_type = "forbidden"


class BusyError(RagError):
    """The service is overloaded; the caller should retry later."""

    error_type = "busy"


class NotReadyError(RagError):
    """The model or the indexes are not loaded yet."""

    error_type = "not_ready"

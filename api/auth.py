"""API keys: who may call what, on which collections.

Keys come as JSON (``RAG_API_KEYS`` or the file ``RAG_API_KEYS_FILE``), a list of entries::

    [{"key": "a-long-random-secret-1", "role": "read", "collections": ["handbook"]},
     {"key_sha256": "<64 hex digits>", "role": "admin", "collections": "*", "name": "ops"}]

Only sha256 digests are kept in memory. Roles are ordered: ``read`` (search, get, list, embeddings) <
``write`` (add and delete documents) < ``admin`` (create and delete collections); a key holds its role
and every role below it. With no key configured, auth is off, and the service only serves on loopback
unless ``allow_insecure_bind`` says otherwise (``check_bind``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, model_validator

from rag.errors import ConfigError, ForbiddenError, UnauthorizedError
from rag.settings import Settings

Role = Literal["read", "write", "admin"]
ROLE_RANK: dict[str, int] = {"read": 0, "write": 1, "admin": 2}
ALL_COLLECTIONS = "*"
MIN_KEY_LENGTH = 16  # an empty or short key is guessable; refused when the keys are loaded


class KeyEntry(BaseModel):
    """One configured key, as written in the JSON."""

    model_config = ConfigDict(extra="forbid")

    key: SecretStr | None = None
    key_sha256: str | None = Field(None, pattern="^[0-9a-fA-F]{64}$")
    role: Role
    collections: list[str] | Literal["*"] = "*"
    name: str | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> KeyEntry:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of key and key_sha256")
        if self.key is not None and len(self.key.get_secret_value().strip()) < MIN_KEY_LENGTH:
            raise ValueError(f"a key must have at least {MIN_KEY_LENGTH} characters (use a long random one)")
        return self

    def digest(self) -> str:
        if self.key is not None:
            return sha256_hex(self.key.get_secret_value())
        assert self.key_sha256 is not None
        return self.key_sha256.lower()


_ENTRIES = TypeAdapter(list[KeyEntry])


def sha256_hex(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller: a role and the collections it may touch (``None``: all)."""

    role: Role
    collections: frozenset[str] | None
    name: str = "anonymous"

    def require_role(self, role: Role) -> None:
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise ForbiddenError(f"this API key has the role '{self.role}'; the request needs '{role}'.")

    def may_touch(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def require_collection(self, collection: str) -> None:
        if not self.may_touch(collection):
            raise ForbiddenError(f"this API key may not use the collection '{collection}'.")


ANONYMOUS_ADMIN = Principal(role="admin", collections=None)


@dataclass(frozen=True)
class KeyRing:
    """Configured keys by sha256 digest; empty means auth is off."""

    principals: dict[str, Principal]

    @property
    def enabled(self) -> bool:
        return bool(self.principals)

    def authenticate(self, bearer: str | None) -> Principal:
        """The principal of a bearer token; with auth off, everyone is an anonymous admin."""
        if not self.enabled:
            return ANONYMOUS_ADMIN
        if not bearer:
            raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'.")
        digest = sha256_hex(bearer)
        # Every configured digest is compared, in constant time, so timing tells nothing about them.
        principal = None
        for known, candidate in self.principals.items():
            if hmac.compare_digest(known, digest):
                principal = candidate
        if principal is None:
            raise UnauthorizedError("the API key is not known.")
        return principal


def _parse(text: str, origin: str) -> list[KeyEntry]:
    try:
        return _ENTRIES.validate_python(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        # The message names the field, never the value: it could be a secret.
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else _first_error(exc)
        raise ConfigError(f"API keys in {origin} are not a valid JSON list of keys ({detail}).") from None


def _first_error(exc: ValidationError) -> str:
    """How many entries are invalid and the first reason (pydantic's message, never the input value)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{exc.error_count()} invalid entries; entry {where}: {first['msg']}"


def load_keyring(settings: Settings) -> KeyRing:
    """The keys of ``settings.api_keys`` and ``settings.api_keys_file``, together."""
    entries: list[KeyEntry] = []
    if settings.api_keys is not None:
        entries += _parse(settings.api_keys.get_secret_value(), "RAG_API_KEYS")
    if settings.api_keys_file is not None:
        try:
            text = settings.api_keys_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the API keys file {settings.api_keys_file}: {exc.strerror}."
            ) from None
        entries += _parse(text, str(settings.api_keys_file))
    principals: dict[str, Principal] = {}
    for index, entry in enumerate(entries):
        scope = None if entry.collections == ALL_COLLECTIONS else frozenset(entry.collections)
        principals[entry.digest()] = Principal(entry.role, scope, entry.name or f"key-{index}")
    return KeyRing(principals)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, keyring: KeyRing) -> str:
    """Refuse to serve without keys on a non-loopback address; say what auth mode the server runs in."""
    if keyring.enabled:
        return f"API keys on: {len(keyring.principals)} key(s) configured."
    if is_loopback(settings.host):
        return "API keys off (none configured): serving on loopback only."
    if settings.allow_insecure_bind:
        return f"API keys off and bound to {settings.host}: anyone who can reach it may read and write."
    raise ConfigError(
        f"refusing to serve on {settings.host} without API keys: configure RAG_API_KEYS or "
        "RAG_API_KEYS_FILE, bind to 127.0.0.1, or pass --allow-insecure-bind (RAG_ALLOW_INSECURE_BIND=true) "
        "to serve unprotected."
    )

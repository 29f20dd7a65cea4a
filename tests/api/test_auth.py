"""API keys: parsing, hashing, roles and collections, and the refusal to serve unprotected off loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.auth import ANONYMOUS_ADMIN, check_bind, is_loopback, load_keyring, sha256_hex
from rag.embedding.fake import HashEmbedder
from rag.errors import ConfigError, ForbiddenError, UnauthorizedError
from tests.api.conftest import make_settings


def _keys(tmp_path: Path, entries: object) -> object:
    return make_settings(tmp_path, api_keys=SecretStr(json.dumps(entries)))


def test_keys_are_kept_hashed_and_given_either_way(tmp_path: Path) -> None:
    settings = _keys(
        tmp_path,
        [
            {"key": "plain-key-0123456789abcdef", "role": "read", "collections": ["a"]},
            {"key_sha256": sha256_hex("hashed-key").upper(), "role": "admin"},
        ],
    )
    ring = load_keyring(settings)  # type: ignore[arg-type]
    assert set(ring.principals) == {sha256_hex("plain-key-0123456789abcdef"), sha256_hex("hashed-key")}
    reader = ring.authenticate("plain-key-0123456789abcdef")
    assert (reader.role, reader.collections) == ("read", frozenset({"a"}))
    assert ring.authenticate("hashed-key").collections is None
    with pytest.raises(UnauthorizedError):
        ring.authenticate("nope")
    with pytest.raises(UnauthorizedError):
        ring.authenticate(None)


def test_keys_file_and_environment_are_merged(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps([{"key": "from-file-0123456789abcdef", "role": "write"}]))
    settings = make_settings(
        tmp_path,
        api_keys_file=keys_file,
        api_keys=SecretStr('[{"key": "from-env-0123456789abcdef", "role": "read"}]'),
    )
    ring = load_keyring(settings)
    assert ring.authenticate("from-file-0123456789abcdef").role == "write"
    assert ring.authenticate("from-env-0123456789abcdef").role == "read"


@pytest.mark.parametrize(
    "entries",
    [
        "not json",
        [{"key": "k", "role": "superuser"}],
        [{"role": "read"}],
        [{"key": "k", "key_sha256": "0" * 64, "role": "read"}],
        [{"key_sha256": "short", "role": "read"}],
    ],
)
def test_invalid_key_configuration_is_refused_without_echoing_secrets(
    tmp_path: Path, entries: object
) -> None:
    raw = entries if isinstance(entries, str) else json.dumps(entries)
    settings = make_settings(tmp_path, api_keys=SecretStr(raw))
    with pytest.raises(ConfigError) as caught:
        load_keyring(settings)
    assert '"k"' not in caught.value.message and "'k'" not in caught.value.message


def test_roles_are_ordered_and_collections_scoped(tmp_path: Path) -> None:
    ring = load_keyring(
        _keys(tmp_path, [{"key": "w-0123456789abcdef", "role": "write", "collections": ["docs"]}])  # type: ignore[arg-type]
    )
    writer = ring.authenticate("w-0123456789abcdef")
    writer.require_role("read")
    writer.require_role("write")
    with pytest.raises(ForbiddenError):
        writer.require_role("admin")
    writer.require_collection("docs")
    with pytest.raises(ForbiddenError):
        writer.require_collection("private")


def test_without_keys_everyone_is_an_anonymous_admin(tmp_path: Path) -> None:
    assert load_keyring(make_settings(tmp_path)).authenticate(None) == ANONYMOUS_ADMIN


HOSTS = [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False)]


@pytest.mark.parametrize(("host", "loopback"), [*HOSTS, ("example.org", False)])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bind_refusal_and_its_overrides(tmp_path: Path) -> None:
    open_settings = make_settings(tmp_path, host="0.0.0.0")
    with pytest.raises(ConfigError, match="refusing to serve on 0.0.0.0 without API keys"):
        create_app(open_settings, embedder=HashEmbedder(64))
    insecure = make_settings(tmp_path, host="0.0.0.0", allow_insecure_bind=True)
    assert "anyone who can reach it" in check_bind(insecure, load_keyring(insecure))
    keyed = _keys(tmp_path, [{"key": "k-0123456789abcdef", "role": "admin"}])
    keyed = keyed.model_copy(update={"host": "0.0.0.0"})  # type: ignore[attr-defined]
    assert "API keys on" in check_bind(keyed, load_keyring(keyed))


def test_routes_check_role_and_collection_in_process(tmp_path: Path) -> None:
    settings = _keys(
        tmp_path,
        [
            {"key": "admin-0123456789abcdef", "role": "admin"},
            {"key": "r-0123456789abcdef", "role": "read", "collections": ["a"]},
        ],
    )
    app = create_app(settings, embedder=HashEmbedder(64))  # type: ignore[arg-type]
    with TestClient(app) as client:
        admin = {"Authorization": "Bearer admin-0123456789abcdef"}
        reader = {"Authorization": "Bearer r-0123456789abcdef"}
        assert client.post("/v1/collections", json={"name": "a"}, headers=admin).status_code == 201
        assert client.get("/v1/collections/a", headers=reader).status_code == 200
        assert client.get("/v1/collections/b", headers=reader).status_code == 403
        assert client.delete("/v1/collections/a", headers=reader).status_code == 403
        assert client.get("/v1/collections/a", headers={"Authorization": "Basic abc"}).status_code == 401

"""The pages a browser opens (``/``, ``/docs``, ``/redoc``) load everything from this server, need no key,
and ship inside the package (in-process; the browser tests are test_playground*_browser.py)."""

from __future__ import annotations

import json
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.pages import PLAYGROUND_DIR
from rag.embedding.fake import HashEmbedder
from tests.api.conftest import KEY_CONFIG, make_settings
from tests.conftest import REPO_ROOT

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
REMOTE = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", re.IGNORECASE)


@pytest.fixture
def keyed_client(tmp_path: Path) -> TestClient:
    settings = make_settings(tmp_path / "data", api_keys=json.dumps(KEY_CONFIG))
    return TestClient(create_app(settings, embedder=HashEmbedder(64)), raise_server_exceptions=False)


@pytest.mark.parametrize("page", ["/", "/docs", "/redoc"])
def test_pages_load_every_asset_from_this_server_without_a_key(keyed_client: TestClient, page: str) -> None:
    with keyed_client:
        response = keyed_client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assets = [url for url in ASSET.findall(response.text) if not url.startswith(("data:", "#"))]
        assert assets, "a page with no assets: the pattern no longer matches the HTML"
        for url in assets:
            assert url.startswith("/") and not url.startswith("//"), url
            assert keyed_client.get(url).status_code == 200, url
        assert (
            keyed_client.post("/v1/search", json={"query": "x"}).status_code == 401
        )  # the API still needs one


def test_the_playground_page_forbids_loading_from_anywhere_else(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy


def test_the_playground_names_no_remote_url() -> None:
    for path in PLAYGROUND_DIR.iterdir():
        assert not REMOTE.search(path.read_text(encoding="utf-8")), path.name


def test_the_served_redoc_bundle_has_no_cdn_asset_left(client: TestClient) -> None:
    bundle = client.get("/static/redoc/redoc.standalone.js")
    assert bundle.status_code == 200 and len(bundle.content) > 500_000
    assert b"cdn.redoc.ly" not in bundle.content
    assert "/docs" not in client.get("/openapi.json").json()["paths"]  # pages stay out of the API document


def test_the_playground_files_are_package_data() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["api"]
    shipped = [p for p in PLAYGROUND_DIR.iterdir() if any(fnmatch(f"static/{p.name}", g) for g in patterns)]
    assert sorted(shipped) == sorted(PLAYGROUND_DIR.iterdir())
    assert any(dep.startswith("fastapi-offline") for dep in config["project"]["optional-dependencies"]["api"])

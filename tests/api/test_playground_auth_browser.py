"""The playground in a real browser against a server with API keys (fake:64 embedder): without a key it
says what is missing, a wrong key is refused, a valid one works, and the key stays in the tab only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.browser import (
    assert_only_loopback,
    missing_browser_reason,
    page_errors,
    requests_sent,
    screenshot,
    text_of,
    wait_for,
)
from tests.api.conftest import KEYS, LiveServer, keyed_server, stop_server

pytestmark = pytest.mark.skipif(missing_browser_reason() is not None, reason=str(missing_browser_reason()))

DOCS = [
    {
        "id": "keys",
        "title": "Key rotation",
        "text": "Rotate API keys every ninety days; old keys expire a day later.",
    },
    {"id": "refunds", "title": "Refunds", "text": "Refunds are paid within thirty days of a purchase."},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = keyed_server(tmp_path_factory.mktemp("keyed-playground"))
    with live.client("admin") as admin:
        assert admin.post("/v1/collections/default/documents", json={"documents": DOCS}).status_code == 201
    yield live
    stop_server(live)


def use_key(browser: Any, key: str) -> None:
    field = browser.find_element("id", "api-key")
    field.clear()
    field.send_keys(key)
    browser.find_element("id", "key-button").click()


def search(browser: Any, query: str) -> None:
    browser.execute_script("document.getElementById('search-status').textContent = ''")
    field = browser.find_element("id", "query")
    field.clear()
    field.send_keys(query)
    browser.find_element("id", "search-button").click()
    wait_for(browser, lambda d: text_of(d, "search-status") not in ("", "Searching…"), "no answer")


def test_without_a_key_the_page_asks_for_one_and_a_valid_key_works(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    browser.get(server.url + "/")
    requests_sent(browser)
    wait_for(browser, lambda d: d.find_element("id", "key-panel").is_displayed(), "no key field")
    assert "API key" in text_of(browser, "key-status")
    search(browser, "rotate keys")
    assert "error" in browser.find_element("id", "search-status").get_attribute("class")
    assert "API key" in text_of(browser, "search-status")
    assert browser.find_elements("css selector", "#hits .hit") == []
    screenshot(browser, tmp_path, "no-key")

    use_key(browser, "not-a-key")
    wait_for(browser, lambda d: "refused" in text_of(d, "key-status"), "a wrong key was not refused")

    use_key(browser, KEYS["reader"])
    wait_for(browser, lambda d: "Key accepted" in text_of(d, "key-status"), "the reader key was not accepted")
    assert text_of(browser, "collection") == "default (2 docs, 2 chunks)"  # the reader sees only its own
    search(browser, "rotate keys")
    assert browser.find_element("css selector", "#hits .hit .hit-title").text == "Key rotation"
    screenshot(browser, tmp_path, "with-key")

    sent = requests_sent(browser)
    authorised = [r for r in sent if r["url"].endswith("/v1/search") and "Authorization" in r["headers"]]
    assert authorised[-1]["headers"]["Authorization"] == f"Bearer {KEYS['reader']}"
    stored = browser.execute_script("return [sessionStorage.length, localStorage.length, document.cookie]")
    assert stored == [1, 0, ""], "the key must live in this tab's sessionStorage and nowhere else"
    assert_only_loopback(sent, server.url)
    assert page_errors(browser) == []

    browser.get(server.url + "/")  # a reload in the same tab keeps the key
    wait_for(browser, lambda d: "docs" in text_of(d, "collection"), "the key did not survive a reload")

"""The playground and the API docs in a real browser (headless chromium), against a real uvicorn server on
loopback serving the sample corpus embedded with the offline MiniLM. Every test saves a screenshot in its
``tmp_path`` and checks that no request left loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.browser import (
    COLOURS_JS,
    FOCUSED_JS,
    UNLABELLED_CONTROLS_JS,
    assert_only_loopback,
    contrast_ratio,
    missing_browser_reason,
    page_errors,
    requests_sent,
    screenshot,
    text_of,
    wait_for,
)
from tests.api.conftest import LiveServer, server_env, start_server, stop_server
from tests.conftest import REPO_ROOT

MODEL = "all-minilm-l6-v2"
CORPUS = REPO_ROOT / "samples" / "corpus"

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(missing_browser_reason() is not None, reason=str(missing_browser_reason())),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``rag ingest samples/corpus`` with MiniLM, then the server; uploads of two files or more are jobs."""
    data_dir = tmp_path_factory.mktemp("playground-data")
    ingest = [sys.executable, "-m", "ingest", "--data-dir", str(data_dir), "--doc-model", MODEL,
              "--query-model", MODEL, "ingest", str(CORPUS), "--collection", "default"]  # fmt: skip
    subprocess.run(
        ingest, cwd=REPO_ROOT, env=server_env(data_dir), check=True, capture_output=True, timeout=300
    )
    live = start_server(
        data_dir, RAG_DOC_MODEL=MODEL, RAG_QUERY_MODEL=MODEL, RAG_BACKGROUND_JOB_THRESHOLD="1"
    )
    yield live
    stop_server(live)


def open_playground(browser: Any, server: LiveServer) -> None:
    browser.get(server.url + "/")
    wait_for(browser, lambda d: "docs" in text_of(d, "collection"), "the collection picker never filled")


def search(browser: Any, query: str, *, mode: str = "binary+int8") -> None:
    from selenium.webdriver.support.ui import Select

    field = browser.find_element("id", "query")
    field.clear()
    field.send_keys(query)
    Select(browser.find_element("id", "mode")).select_by_value(mode)
    browser.execute_script("document.getElementById('search-status').textContent = ''")
    browser.find_element("id", "search-button").click()
    wait_for(browser, lambda d: f"mode {mode}" in text_of(d, "search-status"), f"no {mode} answer")
    wait_for(
        browser, lambda d: text_of(d, "context-status") not in ("", "Packing the context…"), "no context"
    )


def search_bodies(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        json.loads(r["postData"]) for r in sent if r["url"].endswith("/v1/search") and r["method"] == "POST"
    ]


CONTEXT_ANSWER = {
    "context": "[1] Security policy\nAPI keys for third-party services are rotated every ninety days.",
    "citations": [
        {"index": 1, "document_id": "policies/security.md", "title": "Security policy",
         "source": "security.md", "page": None, "char_start": 0, "char_end": 60, "chunk_ids": [3],
         "score": 0.71},
    ],
    "tokens": 23,
    "model": "cl100k_base",
}  # fmt: skip

# Answers POST /v1/context as the contract says (the endpoint is not on this server) and keeps the body.
STUB_CONTEXT_JS = """
const answer = arguments[0];
const original = window.fetch;
window.fetch = (path, init) => {
  if (path !== '/v1/context') return original(path, init);
  window.contextBody = JSON.parse(init.body);
  return Promise.resolve(new Response(JSON.stringify(answer),
    {status: 200, headers: {'Content-Type': 'application/json'}}));
};
"""


def test_a_query_shows_hits_highlighted_in_their_neighbours_with_timings(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    open_playground(browser, server)
    requests_sent(browser)
    search(browser, "how do I rotate API keys?")
    first = browser.find_element("css selector", "#hits .hit")
    assert "policies/security.md" in first.find_element("css selector", ".meta").text
    passage = first.find_element("css selector", ".passage")
    wait_for(browser, lambda d: passage.get_attribute("data-neighbours") == "loaded", "no neighbouring text")
    assert "rotate" in passage.find_element("tag name", "mark").text.lower()
    assert passage.find_elements("css selector", ".neighbour"), "the chunk was shown without its neighbours"
    timings = text_of(browser, "timings")
    assert all(stage in timings for stage in ("embed", "hamming", "rescore", "total", "round trip"))
    # The real /v1/context packing of the same query, with its token count and citations.
    wait_for(browser, lambda d: "citations" in text_of(d, "context-status"), "no context packing shown")
    assert re.search(r"\d+ tokens of 2000 · \d+ citations", text_of(browser, "context-status"))
    screenshot(browser, tmp_path, "hits")

    marked = passage.find_element("tag name", "mark").text
    first.find_element("css selector", "a.hit-title").click()
    wait_for(browser, lambda d: d.find_element("id", "document-panel").is_displayed(), "no document panel")
    wait_for(browser, lambda d: d.find_elements("css selector", "#document-text mark"), "document not shown")
    assert text_of(browser, "document-heading") == "Security policy"
    assert browser.find_element("css selector", "#document-text mark").text == marked
    assert len(text_of(browser, "document-text")) > len(passage.text)
    screenshot(browser, tmp_path, "document")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(browser).send_keys(Keys.ESCAPE).perform()  # closes the document, back to the hit's link
    wait_for(
        browser, lambda d: not d.find_element("id", "document-panel").is_displayed(), "Escape did nothing"
    )
    assert browser.switch_to.active_element == first.find_element("css selector", "a.hit-title")
    assert_only_loopback(requests_sent(browser), server.url)
    assert page_errors(browser) == []


def test_the_context_packing_of_the_same_query_is_shown_with_its_token_count(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    open_playground(browser, server)
    browser.execute_script(STUB_CONTEXT_JS, CONTEXT_ANSWER)
    browser.find_element("id", "top-k").clear()
    browser.find_element("id", "top-k").send_keys("3")
    search(browser, "how do I rotate API keys?", mode="hybrid")
    assert text_of(browser, "context-status").startswith("23 tokens of 2000 · 1 citations")
    assert "rotated every ninety days" in text_of(browser, "context-text")
    assert text_of(browser, "citations") == "[1] Security policy · security.md (score 0.710)"
    sent = browser.execute_script("return window.contextBody")
    assert sent == {
        "query": "how do I rotate API keys?", "collection": "default", "top_k": 3, "mode": "hybrid",
        "max_tokens": 2000,
    }  # fmt: skip
    browser.execute_script("document.getElementById('context-heading').scrollIntoView()")
    screenshot(browser, tmp_path, "context")


def test_switching_mode_changes_the_request_and_the_stages(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    open_playground(browser, server)
    requests_sent(browser)
    search(browser, "travel expenses", mode="bm25")
    lexical_timings = text_of(browser, "timings")
    search(browser, "travel expenses", mode="binary")
    sent = requests_sent(browser)
    assert [body["mode"] for body in search_bodies(sent)] == ["bm25", "binary"]
    assert "lexical" in lexical_timings and "hamming" not in lexical_timings
    assert "hamming" in text_of(browser, "timings")
    screenshot(browser, tmp_path, "binary")
    assert_only_loopback(sent, server.url)
    assert page_errors(browser) == []


def test_an_upload_shows_its_job_and_then_its_documents_are_found(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    note = tmp_path / "heron-survey.md"
    note.write_text(
        "# Heron survey\n\nThe heron survey counts 412 grey herons at the Wexmoor lagoon each spring.\n"
    )
    open_playground(browser, server)
    requests_sent(browser)
    browser.find_element("id", "files").send_keys(str(note))
    browser.find_element("id", "paste-title").send_keys("Quokka budget")
    browser.find_element("id", "paste-text").send_keys(
        "The quokka picnic budget is 93 euros, set by finance."
    )
    browser.find_element("id", "upload-button").click()
    wait_for(browser, lambda d: "Done:" in text_of(d, "upload-status"), "the upload never finished")
    status = text_of(browser, "upload-status")
    assert "succeeded: 2 of 2 documents" in status and "added 2" in status, status
    progress = browser.find_element("id", "upload-progress")
    assert progress.is_displayed()
    assert (progress.get_attribute("max"), progress.get_attribute("value")) == ("2", "2")
    outcomes = text_of(browser, "upload-documents").splitlines()
    assert outcomes == ["heron-survey.md added, 1 chunks", "Quokka-budget.txt added, 1 chunks"]
    browser.execute_script("document.getElementById('upload-documents').scrollIntoView({block: 'center'})")
    screenshot(browser, tmp_path, "uploaded")
    sent = requests_sent(browser)
    assert any("/v1/jobs/" in r["url"] for r in sent), "the page never asked for the job's progress"
    wait_for(browser, lambda d: "22 docs" in text_of(d, "collection"), "the counts were not refreshed")

    search(browser, "how many grey herons are counted at the lagoon?")
    assert "heron-survey.md" in browser.find_element("css selector", "#hits .hit .meta").text
    assert_only_loopback(sent + requests_sent(browser), server.url)
    assert page_errors(browser) == []


def test_docs_and_redoc_render_their_operations_offline(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    operations = len(
        [1 for path in server.client().get("/openapi.json").json()["paths"].values() for _ in path]
    )
    requests_sent(browser)
    browser.get(server.url + "/docs")
    wait_for(
        browser, lambda d: len(d.find_elements("css selector", ".opblock")) == operations, "no operations"
    )
    paths = {e.text for e in browser.find_elements("css selector", ".opblock-summary-path")}
    assert {"/v1/search", "/v1/collections/{name}/documents"} <= paths
    screenshot(browser, tmp_path, "swagger")
    browser.get(server.url + "/redoc")
    selector = "[data-section-id^='operation/']"
    wait_for(
        browser, lambda d: len(d.find_elements("css selector", selector)) == operations, "redoc is empty"
    )
    assert "Search a collection" in browser.find_element("tag name", "body").text
    screenshot(browser, tmp_path, "redoc")
    assert_only_loopback(requests_sent(browser), server.url)
    assert page_errors(browser) == []


def test_controls_are_labelled_text_is_legible_and_tabbing_follows_the_page(
    browser: Any, server: LiveServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_playground(browser, server)
    assert browser.execute_script(UNLABELLED_CONTROLS_JS) == []
    search(browser, "when are salaries paid", mode="bm25")
    for selector in ("h1", "label", ".hint", ".meta", ".timings", ".score", ".passage mark", "#search-status",
                     "#search-button", "a.hit-title"):  # fmt: skip
        colours = browser.execute_script(COLOURS_JS, browser.find_element("css selector", selector))
        assert contrast_ratio(*colours) >= 4.5, (selector, colours)

    browser.get(server.url + "/")
    browser.execute_script("document.activeElement.blur()")
    order = []
    for _ in range(13):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order.append(browser.execute_script(FOCUSED_JS))
    assert order == ["API docs", "ReDoc", "query", "collection", "mode", "top-k", "filter", "max-tokens",
                     "search-button", "files", "paste-title", "paste-text", "upload-button"]  # fmt: skip
    ActionChains(browser).send_keys("/").perform()
    assert browser.execute_script(FOCUSED_JS) == "query", "'/' does not jump to the query box"

    browser.set_window_size(390, 844)  # a phone
    try:
        open_playground(browser, server)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(browser, tmp_path, "phone")
    finally:
        browser.set_window_size(1280, 1000)

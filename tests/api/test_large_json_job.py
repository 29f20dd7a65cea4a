"""A JSON body whose documents hold much text runs as a job, as large uploads do (issue 15.1)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

URL = "/v1/collections/default/documents"


def test_one_large_json_document_answers_202_and_a_job(client: TestClient) -> None:
    text = "A sentence about refund policies and keys. " * 30_000  # ~1.3 MB in one document
    response = client.post(URL, json={"documents": [{"id": "big", "text": text}]})
    assert response.status_code == 202, response.text
    job_url = response.json()["url"]
    deadline = time.monotonic() + 60
    while (job := client.get(job_url).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job["status"] == "succeeded"
    [outcome] = job["result"]["outcomes"]
    assert (outcome["id"], outcome["status"], outcome["chunks"]) == ("big", "added", job["result"]["chunks"])


def test_small_json_document_still_answers_at_once(client: TestClient) -> None:
    response = client.post(URL, json={"documents": [{"id": "small", "text": "short text"}]})
    assert response.status_code == 201

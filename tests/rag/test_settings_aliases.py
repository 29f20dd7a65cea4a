"""``RAG_MODEL_ALIASES``: comma-separated ``alias=served-name`` pairs; malformed ones refused, clearly."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag.settings import Settings, parse_model_aliases


def test_pairs_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "RAG_MODEL_ALIASES",
        " pplx-embed-v1-0.6b = all-minilm-l6-v2 ,pplx-embed-context-v1-0.6b=all-minilm-l6-v2",
    )
    assert Settings().model_aliases == {
        "pplx-embed-v1-0.6b": "all-minilm-l6-v2",
        "pplx-embed-context-v1-0.6b": "all-minilm-l6-v2",
    }


def test_no_aliases_by_default_or_when_blank(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().model_aliases == {}
    assert parse_model_aliases("  ") == {}
    monkeypatch.setenv("RAG_MODEL_ALIASES", "")
    assert Settings().model_aliases == {}


def test_a_hub_id_or_a_path_may_be_the_served_name() -> None:
    assert parse_model_aliases("embed=perplexity-ai/pplx-embed-v1-0.6b,local=/models/x") == {
        "embed": "perplexity-ai/pplx-embed-v1-0.6b",
        "local": "/models/x",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("pplx-embed-v1-0.6b", "'pplx-embed-v1-0.6b' has no '='"),
        ("a=b,", "'' has no '='"),
        ("a=", "'a=' has an empty served name"),
        (" =b", "'=b' has an empty alias"),
        ("a=b,a=c", "the alias 'a' names two models"),
        ({"": "b"}, "'=b' has an empty alias"),
    ],
)
def test_malformed_aliases_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        Settings(model_aliases=value)  # type: ignore[arg-type]  # raw input, as the environment gives it
    assert "RAG_MODEL_ALIASES" in str(caught.value)

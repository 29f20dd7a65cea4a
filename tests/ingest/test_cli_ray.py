"""``rag ingest --ray [ADDRESS]``: the optional value is an address only when it looks like one."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from ingest.cli.app import app
from tests.ingest.cli import rag  # noqa: F401  (registers the commands)


def parsed(*args: str) -> tuple[list[Path], str | None]:
    command = typer.main.get_command(app).commands["ingest"]  # type: ignore[attr-defined]
    context = command.make_context("ingest", list(args))
    return context.params["paths"], context.params["ray_address"]


@pytest.mark.parametrize(
    ("args", "paths", "address"),
    [
        (["docs", "--ray"], ["docs"], ""),
        (["--ray", "auto", "docs"], ["docs"], "auto"),
        (["docs", "--ray", "ray://head:10001"], ["docs"], "ray://head:10001"),
        (["docs", "--ray", "10.0.0.5:6379", "more"], ["docs", "more"], "10.0.0.5:6379"),
        (["--ray", "local", "docs"], ["docs"], "local"),
        (["--ray", "docs", "more"], ["docs", "more"], ""),
        (["a", "--ray", "b", "c"], ["a", "b", "c"], ""),
        (["docs", "--ray", "--json"], ["docs"], ""),
        (["docs", "--ray=auto"], ["docs"], "auto"),
        (["docs"], ["docs"], None),
    ],
)
def test_ray_takes_an_optional_address(args: list[str], paths: list[str], address: str | None) -> None:
    assert parsed(*args) == ([Path(p) for p in paths], address)


def test_help_documents_ray() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["ingest", "-h"], terminal_width=200)
    assert "--ray" in result.stdout and "ray://host:port" in result.stdout

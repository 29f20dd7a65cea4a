"""Docs that cannot drift: the README's settings and commands are tied to the code.

Every ``RAG_*`` variable the README names must be a field of ``Settings`` that some code reads (a
setting documented but never read fails here), every field of ``Settings`` must be documented somewhere
under docs/ or the README, and the README's command table must list exactly the ``rag`` commands.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Variables the tests and benchmarks read themselves (not settings of the service).
TEST_ONLY = {"RAG_SHARED_DATA", "RAG_PPLX_MODEL_DIR", "RAG_EVAL_DATA_DIR"}


def _env_names() -> dict[str, str]:
    """Environment variable -> field: ``RAG_<FIELD>``, or the field's own alias (``PERPLEXITY_API_KEY``)."""
    names = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names[alias if isinstance(alias, str) else f"RAG_{name.upper()}"] = name
    return names


def _settings_read_by_code() -> set[str]:
    """Names of ``Settings`` fields accessed as attributes anywhere in rag/, ingest/ or api/."""
    fields = set(Settings.model_fields)
    read: set[str] = set()
    for package in ("rag", "ingest", "api"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "settings.py" and path.parent.name == "rag":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr in fields:
                    read.add(node.attr)
    return read


def _ours(readme: str) -> str:
    """The README without its chat-app section, which quotes other apps' own ``RAG_*`` variables."""
    head, _, rest = readme.partition("## Use it from chat apps")
    return head + ("\n## " + rest.split("\n## ", 1)[1] if "\n## " in rest else "")


def test_every_documented_setting_exists_and_is_read() -> None:
    documented = set(re.findall(r"\bRAG_([A-Z][A-Z0-9_]*[A-Z0-9])\b", _ours(README))) - {
        name.removeprefix("RAG_") for name in TEST_ONLY
    }
    fields = {name.upper(): name for name in Settings.model_fields}
    unknown = sorted(documented - set(fields))
    assert not unknown, f"README documents settings that do not exist: {unknown}"
    unread = sorted(name for name in documented if fields[name] not in _settings_read_by_code())
    assert not unread, f"README documents settings that no code reads: {unread}"


def test_every_setting_is_documented() -> None:
    docs = README + "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    missing = sorted(env for env in _env_names() if env not in docs)
    assert not missing, f"settings documented nowhere (README or docs/): {missing}"


def test_every_setting_field_is_read() -> None:
    unread = sorted(set(Settings.model_fields) - _settings_read_by_code())
    assert not unread, f"settings that no code reads: {unread}"


def test_readme_command_table_lists_exactly_the_commands() -> None:
    from ingest.cli.app import app
    from ingest.cli.main import _register_commands

    _register_commands()
    commands = {command.name for command in app.registered_commands}
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `rag ([a-z][a-z-]*)", section, flags=re.MULTILINE))
    assert listed == commands

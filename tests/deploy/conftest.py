"""Fixtures for the deployment tests. (Test modules cannot import this file by name: the
root conftest.py has the same module name under --import-mode=importlib.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))  # for deploy_render

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "k8s"
OVERLAYS = ("dev", "prod")
SCHEMAS = K8S / "schemas"


def render_kustomization(path: Path) -> list[dict]:
    """`kubectl kustomize` of one kustomization root, as a list of objects."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render the Kustomize overlays (apt-get install kubectl)")
    result = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def render():
    """The renderer itself, for tests that render other kustomization roots."""
    return render_kustomization


@pytest.fixture(scope="session")
def rendered_overlays() -> dict[str, list[dict]]:
    return {name: render_kustomization(K8S / "overlays" / name) for name in OVERLAYS}


def pytest_configure(config: pytest.Config) -> None:
    """Tests append the boot table and the flow-matrix counts to config.zipbob_deploy_report;
    they are printed at the end of the run, even without -s."""
    config.__dict__.setdefault("zipbob_deploy_report", [])


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.__dict__.get("zipbob_deploy_report", [])
    if lines:
        terminalreporter.section("deployment report")
        for line in lines:
            terminalreporter.write_line(line)

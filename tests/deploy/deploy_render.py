"""`render`, the cached `kubectl kustomize` shared by the deployment test modules (importable
because tests/deploy/conftest.py puts this folder on sys.path, as the review suite does)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml


@functools.cache
def render(path: Path) -> list[dict]:
    """Rendered once per session: the objects are read, never changed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render the Kustomize overlays (apt-get install kubectl)")
    out = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]

"""make test stops before pytest, naming each missing tool and how to get it, instead of
letting a suite fail (or skip) for a tool that is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_missing_tools_stop_make_test_with_their_names_and_packages(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "check_test_services.py")],
        env={"PATH": str(tmp_path)},  # nothing on PATH: every tool is missing
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    for tool, package in [
        ("promtool", "apt-get install prometheus"),
        ("prometheus", "apt-get install prometheus"),
        ("kubectl", "apt-get install kubectl"),
        ("chromium", "apt-get install chromium"),
    ]:
        line = next(line for line in result.stderr.splitlines() if line.strip().startswith(tool))
        assert package in line, line

"""The launcher's per-run secrets: the web console's credential at the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from zipbob_devkit import launcher

NAMES = ("ZIPBOB_EDGE__PROXY_TOKEN", "ZIPBOB_WEB__GATEWAY_PROXY_TOKEN")


def test_one_proxy_token_per_run_for_the_gateway_and_the_console(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    first = launcher.base_env("local", tmp_path)
    second = launcher.base_env("local", tmp_path)
    assert len(first[NAMES[0]]) >= 32
    assert first[NAMES[0]] == first[NAMES[1]]
    assert first[NAMES[0]] != second[NAMES[0]]
    # A token from the environment (dev's .env) is kept, and given to both.
    monkeypatch.setenv(NAMES[0], "from-the-environment")
    given = launcher.base_env("local", tmp_path)
    assert given[NAMES[0]] == given[NAMES[1]] == "from-the-environment"

"""Fixtures for suites that need the whole platform running (e2e, live monitoring checks)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from zipbob_devkit import embedded, launcher


@pytest.fixture(scope="session")
def platform_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zipbob-data")


@pytest.fixture(scope="session")
def running_platform(platform_data_dir: Path) -> Iterator[dict[str, str]]:
    """The platform as `make run` starts it (local profile), on free ports.

    Returns {"gateway": url, "catalog": url, "review": url, "resizer": url, "s3": url}.
    """
    ports = {name: embedded.free_port() for name in launcher.DEFAULT_PORTS}
    saved = dict(os.environ)
    os.environ.update({f"ZIPBOB_{name.upper()}_PORT": str(p) for name, p in ports.items()})
    os.environ["ZIPBOB_DATA_DIR"] = str(platform_data_dir)
    # The event senders' shared secret (the launcher would make one): known to the suites
    # that deliver or forge events (tests/security) while the platform runs.
    os.environ["ZIPBOB_EVENT_AUTH__SHARED_SECRET"] = secrets.token_urlsafe(24)
    stack = launcher.Stack()
    try:
        urls = launcher.start("local", platform_data_dir, stack, quiet=True)
        yield urls
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)

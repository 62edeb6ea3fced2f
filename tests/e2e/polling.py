"""Waiting for what the platform does asynchronously (resizes, deletions, recoveries)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy or ``timeout`` passes; return the
    last result either way, so the caller's assert shows what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)

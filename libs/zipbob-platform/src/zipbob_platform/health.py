"""Liveness and readiness. Readiness runs each named dependency check with a timeout.

A check fails by raising (``NotReady("preparing indexes")`` reads best). It may return:
- ``None``: "ok";
- ``Health(state, degraded=...)``: its own state under ``checks`` ("closed", "open"); a
  degraded dependency (one whose outage the service absorbs: a cache, a broker it reconnects
  to) keeps the service ready, with ``status: degraded``;
- a string or JSON-able mapping: a detail shown under ``details`` (the check is "ok").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .problems import PROBLEM_JSON, problem_body

ReadinessCheck = Callable[[], Awaitable[object]]
CHECK_TIMEOUT_SECONDS = 2.0


class NotReady(Exception):
    """Raised by a check whose dependency is not usable yet; the message is the state."""


@dataclass(frozen=True)
class Health:
    state: str = "ok"
    degraded: bool = False

    @classmethod
    def degraded_because(cls, reason: str) -> Health:
        return cls(f"degraded: {reason}", degraded=True)


async def live(_: Request) -> Response:
    return JSONResponse({"status": "live"})


async def _run_check(check: ReadinessCheck) -> tuple[str, bool, object]:
    """(state, ok, detail); ``ok`` is False only for a failing check."""
    try:
        result = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"timed out after {CHECK_TIMEOUT_SECONDS}s", False, None
    except NotReady as exc:
        return str(exc)[:300], False, None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300], False, None
    if isinstance(result, Health):
        return result.state, True, result
    return "ok", True, result


def readiness_endpoint(
    checks: Mapping[str, ReadinessCheck],
) -> Callable[[Request], Awaitable[Response]]:
    async def ready(_: Request) -> Response:
        names = list(checks)
        results = dict(
            zip(names, await asyncio.gather(*(_run_check(checks[n]) for n in names)), strict=True)
        )
        report = {name: state for name, (state, _, _) in results.items()}
        details = {
            name: detail
            for name, (_, _, detail) in results.items()
            if isinstance(detail, str | dict)
        }
        extra: dict[str, Any] = {"details": details} if details else {}
        failing = [name for name, (_, ok, _) in results.items() if not ok]
        if not failing:
            degraded = any(isinstance(d, Health) and d.degraded for _, _, d in results.values())
            status = "degraded" if degraded else "ready"
            return JSONResponse({"status": status, "checks": report, **extra})
        body = problem_body(
            503,
            f"not ready: {', '.join(failing)}",
            title="Not ready",
            checks=report,
            **extra,
        )
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)

    return ready

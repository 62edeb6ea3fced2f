"""Liveness and readiness. Readiness runs each named dependency check with a timeout.

A check fails by raising. It may return a detail (a string or a JSON-able mapping, such as
"broker: reconnecting") that is shown under ``details`` without making the service unready:
for dependencies whose outage the service absorbs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .problems import PROBLEM_JSON, problem_body

ReadinessCheck = Callable[[], Awaitable[object]]
CHECK_TIMEOUT_SECONDS = 2.0


async def live(_: Request) -> Response:
    return JSONResponse({"status": "live"})


async def _run_check(check: ReadinessCheck) -> tuple[str, object]:
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"timed out after {CHECK_TIMEOUT_SECONDS}s", None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300], None
    return "ok", detail


def readiness_endpoint(
    checks: Mapping[str, ReadinessCheck],
) -> Callable[[Request], Awaitable[Response]]:
    async def ready(_: Request) -> Response:
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[n]) for n in names))
        report = {name: outcome for name, (outcome, _) in zip(names, results, strict=True)}
        details = {
            name: detail
            for name, (_, detail) in zip(names, results, strict=True)
            if isinstance(detail, str | dict)
        }
        failing = [name for name, result in report.items() if result != "ok"]
        if not failing:
            return JSONResponse({"status": "ready", "checks": report, "details": details})
        body = problem_body(
            503,
            f"not ready: {', '.join(failing)}",
            title="Not ready",
            checks=report,
            details=details,
        )
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)

    return ready

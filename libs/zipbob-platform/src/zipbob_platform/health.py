"""Liveness and readiness. Readiness runs each named dependency check with a timeout."""

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


async def _run_check(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"timed out after {CHECK_TIMEOUT_SECONDS}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return "ok"


def readiness_endpoint(
    checks: Mapping[str, ReadinessCheck],
) -> Callable[[Request], Awaitable[Response]]:
    async def ready(_: Request) -> Response:
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        failing = [name for name, result in report.items() if result != "ok"]
        if not failing:
            return JSONResponse({"status": "ready", "checks": report})
        body = problem_body(
            503, f"not ready: {', '.join(failing)}", title="Not ready", checks=report
        )
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)

    return ready

"""problem+json answers written straight to ASGI (the proxy has no Starlette around it).

Each one is logged: the gateway's per-request access log is off (config/gateway.yaml), since
every proxied request is logged by the service that answers it (same request_id and
trace_id), so the lines the gateway must write itself are exactly the answers it gives.
"""

from __future__ import annotations

import json
import logging

from starlette.types import Send

from zipbob_platform.problems import PROBLEM_JSON, Problem, problem_body

gateway_answers = logging.getLogger("zipbob.gateway.answers")


async def send_problem(
    send: Send,
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    title: str | None = None,
    type_: str | None = None,
    close: bool = False,
) -> None:
    """``close``: the request body may not have been read; the connection cannot be reused."""
    body = json.dumps(
        problem_body(status, detail, title=title, type_=type_, instance=instance)
    ).encode()
    raw_headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    if close:
        raw_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
    gateway_answers.info(
        "%s %s %s (answered by the gateway)",
        method,
        instance,
        status,
        extra={"method": method, "path": instance, "status": status, "detail": detail},
    )


async def send_problem_exception(
    send: Send, problem: Problem, *, instance: str, method: str | None = None
) -> None:
    await send_problem(
        send,
        problem.status,
        problem.detail,
        instance=instance,
        method=method,
        headers=problem.headers,
        title=problem.title,
        type_=problem.type,
    )

"""problem+json answers written straight to ASGI (the proxy has no Starlette around it)."""

from __future__ import annotations

import json

from starlette.types import Send

from zipbob_platform.problems import PROBLEM_JSON, Problem, problem_body


async def send_problem(
    send: Send,
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    title: str | None = None,
    type_: str | None = None,
) -> None:
    body = json.dumps(
        problem_body(status, detail, title=title, type_=type_, instance=instance)
    ).encode()
    raw_headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_problem_exception(send: Send, problem: Problem, *, instance: str) -> None:
    await send_problem(
        send,
        problem.status,
        problem.detail,
        instance=instance,
        headers=problem.headers,
        title=problem.title,
        type_=problem.type,
    )

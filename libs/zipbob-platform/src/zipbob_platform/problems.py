"""RFC 9457 problem details for every error, validation errors included."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .context import current_request_id

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://zipbob.dev/problems/"


class Problem(Exception):
    """Raise anywhere in a request to answer with application/problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_ or _default_type(status)
        self.headers = headers or {}
        self.extra = extra


class DomainError(Exception):
    """A domain rule said no. Service layers raise subclasses; one handler answers them.

    A subclass says how the API answers it with class attributes: ``status`` (required),
    ``title`` and ``type_`` (both default from the status, as for ``Problem``). The message
    is the problem's ``detail``; ``headers`` (e.g. ``Retry-After``) are per instance. Service
    code stays free of HTTP types, and no view needs its own try/except to map errors.
    """

    status: ClassVar[int] = 500
    title: ClassVar[str | None] = None
    type_: ClassVar[str | None] = None

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})


def _default_type(status: int) -> str:
    return PROBLEM_BASE + HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def problem_body(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_ or _default_type(status),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "trace_id": current_trace_id(),
        "request_id": current_request_id(),
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Response:
    return JSONResponse(
        problem_body(status, detail, **fields),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


async def _on_problem(request: Request, exc: Exception) -> Response:
    """The one answer for a ``Problem`` raised by a view and a service's ``DomainError``."""
    if isinstance(exc, DomainError):
        type_, extra = exc.type_, {}
    else:
        assert isinstance(exc, Problem)
        type_, extra = exc.type, exc.extra
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        type_=type_,
        instance=request.url.path,
        headers=exc.headers,
        **extra,
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(
        exc.status_code, detail, instance=request.url.path, headers=dict(exc.headers or {})
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    errors = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()  # type: ignore[attr-defined]
    ]
    summary = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response(
        422,
        summary or "the request is not valid",
        title="Validation failed",
        type_=PROBLEM_BASE + "validation",
        instance=request.url.path,
        errors=errors,
    )


def unexpected_error_response(path: str) -> Response:
    """The 500 answer for a bug: no internals leak, the trace_id lets support find the log."""
    return problem_response(500, "an unexpected error occurred; quote the trace_id", instance=path)


def install_problem_handlers(app: Any) -> None:
    """Register handlers on a Starlette or FastAPI app.

    Unexpected exceptions are answered by RequestContextMiddleware, which sits outside
    Starlette's exception middleware and can still attach X-Request-ID to the 500.
    """
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(DomainError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    # Only FastAPI apps raise RequestValidationError; importing FastAPI for a plain
    # Starlette app (the resizer) would add a third of a second to its cold start.
    if "fastapi" in sys.modules:
        from fastapi.exceptions import RequestValidationError

        app.add_exception_handler(RequestValidationError, _on_validation_error)

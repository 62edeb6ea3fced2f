"""Outermost ASGI middleware: request id, server span, access log, last-resort 500."""

from __future__ import annotations

import logging
import time

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import accept_request_id, request_id_var
from .metrics import route_template
from .problems import unexpected_error_response
from .tracing import extract_context

access_log = logging.getLogger("zipbob.access")
error_log = logging.getLogger("zipbob.errors")
_QUIET_PATHS = frozenset({"/metrics", "/healthz/live", "/healthz/ready"})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header in an ASGI scope (name in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled
        self.tracer = trace.get_tracer("zipbob.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(header(scope, b"x-request-id"))
        token = request_id_var.set(request_id)
        # The incoming request id travels on to upstreams the gateway proxies to.
        scope["zipbob.request_id"] = request_id
        parent = None
        traceparent = header(scope, b"traceparent")
        if traceparent:
            parent = extract_context({"traceparent": traceparent})
        started = time.perf_counter()
        status = 500
        response_started = False
        request_id_header = (b"x-request-id", request_id.encode())

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), request_id_header]
            await send(message)

        # start_span + attach rather than start_as_current_span: the same span, without a
        # generator-based context manager on every request (the gateway's hot path).
        span = self.tracer.start_span(scope["method"], context=parent, kind=SpanKind.SERVER)
        span_token = otel_context.attach(trace.set_span_in_context(span))
        try:
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception:
                error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                span.set_status(Status(StatusCode.ERROR))
                if response_started:
                    raise
                await unexpected_error_response(scope["path"])(scope, receive, send_with_request_id)
            finally:
                route = route_template(scope)
                if span.is_recording():
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.request.method", scope["method"])
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                # An app that keeps the access log off may still ask for a line per request
                # (the gateway does for the requests it answers itself).
                wanted = self.access_log_enabled or scope.get("zipbob.log_access", False)
                if wanted and scope["path"] not in _QUIET_PATHS:
                    access_log.info(
                        "%s %s %s",
                        scope["method"],
                        scope["path"],
                        status,
                        extra={
                            "method": scope["method"],
                            "path": scope["path"],
                            "route": route,
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        },
                    )
                request_id_var.reset(token)
        finally:
            span.end()
            otel_context.detach(span_token)

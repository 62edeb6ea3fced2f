"""Prometheus metrics: HTTP RED metrics labelled by route template, and the /metrics page."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_LABELS = ("service", "method", "route", "status")
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED_ROUTE = "<unmatched>"

http_requests_total = Counter(
    "http_requests_total", "HTTP requests answered", HTTP_LABELS, registry=REGISTRY
)
http_request_duration_seconds = Histogram(
    "http_request_duration_seconds",
    "Time from request start to the end of the response body",
    HTTP_LABELS,
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

# Endpoints that would only measure the scraper or the probes.
_UNTRACKED = frozenset({"/metrics", "/healthz/live", "/healthz/ready"})


def route_template(scope: Scope) -> str:
    """The matched route's template (`/api/products/{id}`), never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path", None) or getattr(route, "path_format", None)
    if template is None:
        template = scope.get("zipbob.route")  # set by hand-written routers (the gateway proxy)
    if template is None:
        return UNMATCHED_ROUTE
    return str(scope.get("root_path", "")) + str(template)


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        # Label children by (method, route, status): looking them up in prometheus_client
        # on every request costs more than the counting itself.
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNTRACKED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            key = (scope["method"], route_template(scope), str(status))
            children = self._children.get(key)
            if children is None:
                labels = (self.service, *key)
                children = self._children[key] = (
                    http_requests_total.labels(*labels),
                    http_request_duration_seconds.labels(*labels),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


def render_metrics() -> bytes:
    return bytes(generate_latest(REGISTRY))


def get_or_create(
    kind: type[Any], name: str, documentation: str, labels: tuple[str, ...] = (), **kwargs: Any
) -> Any:
    """Declare a metric once per process: tests that build several apps must not collide.

    ``kind`` is Counter, Gauge or Histogram; ``kwargs`` go to its constructor (e.g. buckets).
    """
    collectors = REGISTRY._names_to_collectors
    existing = collectors.get(name) or collectors.get(name.removesuffix("_total"))
    if existing is not None:
        return existing
    return kind(name, documentation, labels, registry=REGISTRY, **kwargs)


def counter(name: str, documentation: str, *labels: str) -> Any:
    """A business counter, declared once per process (``name`` ends in ``_total``)."""
    return get_or_create(Counter, name, documentation, labels)


def gauge(name: str, documentation: str, *labels: str) -> Any:
    return get_or_create(Gauge, name, documentation, labels)


def histogram(
    name: str, documentation: str, *labels: str, buckets: tuple[float, ...] = LATENCY_BUCKETS
) -> Any:
    """A histogram of seconds (or ``buckets`` of the caller's own)."""
    return get_or_create(Histogram, name, documentation, labels, buckets=buckets)

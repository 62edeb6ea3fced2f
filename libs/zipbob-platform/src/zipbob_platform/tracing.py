"""OpenTelemetry: one tracer provider per process; OTLP export when the endpoint is configured.

Spans are always created (so logs carry trace ids); they leave the process only when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_getter = DefaultGetter()
_provider: TracerProvider | None = None


def setup_tracing(
    service: str, *, sample_ratio: float = 1.0, extra_processor: SpanProcessor | None = None
) -> TracerProvider:
    """Install the process-wide tracer provider once; later calls return the same provider."""
    global _provider
    if _provider is not None:
        if extra_processor is not None:
            _provider.add_span_processor(extra_processor)
        return _provider
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"zipbob-{service}"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def tracer(name: str = "zipbob") -> trace.Tracer:
    return trace.get_tracer(name)


def extract_context(carrier: Mapping[str, str]) -> otel_context.Context:
    """Parent context from a `traceparent` found in HTTP headers or CloudEvent extensions."""
    return _propagator.extract(carrier, getter=_getter)


def inject_traceparent(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    _propagator.inject(carrier)
    return carrier


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def consumer_span(name: str, traceparent: str | None) -> AbstractContextManager[trace.Span]:
    """A CONSUMER span continuing the producer's trace (e.g. an event read from RabbitMQ),
    so logs written while handling it carry the producer's trace id."""
    parent = extract_context({"traceparent": traceparent}) if traceparent else None
    return trace.get_tracer("zipbob.events").start_as_current_span(
        name, context=parent, kind=trace.SpanKind.CONSUMER
    )

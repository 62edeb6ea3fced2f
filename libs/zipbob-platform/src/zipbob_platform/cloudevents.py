"""CloudEvents 1.0: the envelope, and its HTTP (binary/structured) and AMQP bindings.

On RabbitMQ we use binary mode with `ce-*` headers (SPEC 4); over HTTP both modes are read,
binary is written. Trace context rides in the `traceparent` extension.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .tracing import current_traceparent

SPEC_VERSION = "1.0"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
REQUIRED = ("id", "source", "type", "specversion")
_OPTIONAL = ("subject", "time", "datacontenttype", "dataschema")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")


class InvalidEvent(ValueError):
    """The message is not a CloudEvent we can read (answer 400, do not retry)."""


@dataclass(slots=True)
class CloudEvent:
    type: str
    source: str
    data: Any
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    specversion: str = SPEC_VERSION
    subject: str | None = None
    time: str | None = field(default_factory=lambda: datetime.now(UTC).isoformat())
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def traceparent(self) -> str | None:
        return self.extensions.get("traceparent")

    def attributes(self) -> dict[str, str]:
        attrs = {"id": self.id, "source": self.source, "type": self.type}
        attrs["specversion"] = self.specversion
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                attrs[name] = value
        attrs.update(self.extensions)
        return attrs


def new_event(
    type_: str, source: str, data: Any, *, subject: str | None = None, id_: str | None = None
) -> CloudEvent:
    """A fresh event carrying the current trace context, if any."""
    event = CloudEvent(type=type_, source=source, data=data, subject=subject)
    if id_ is not None:
        event.id = id_
    traceparent = current_traceparent()
    if traceparent:
        event.extensions["traceparent"] = traceparent
    return event


def encode_data(event: CloudEvent) -> bytes:
    if event.data is None:
        return b""
    if isinstance(event.data, bytes):
        return event.data
    return json.dumps(event.data, separators=(",", ":"), default=str).encode()


def _from_attributes(attrs: Mapping[str, Any], data: Any) -> CloudEvent:
    missing = [name for name in REQUIRED if not attrs.get(name)]
    if missing:
        raise InvalidEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if attrs["specversion"] != SPEC_VERSION:
        raise InvalidEvent(f"unsupported specversion {attrs['specversion']!r}")
    extensions = {
        k: str(v)
        for k, v in attrs.items()
        if k not in REQUIRED and k not in _OPTIONAL and k != "data" and _EXTENSION_NAME.match(k)
    }
    return CloudEvent(
        id=str(attrs["id"]),
        source=str(attrs["source"]),
        type=str(attrs["type"]),
        data=data,
        subject=attrs.get("subject"),
        time=attrs.get("time"),
        datacontenttype=attrs.get("datacontenttype"),
        dataschema=attrs.get("dataschema"),
        extensions=extensions,
    )


def _decode_data(body: bytes, content_type: str | None) -> Any:
    if not body:
        return None
    if content_type is None or "json" in content_type:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise InvalidEvent(f"event data is not valid JSON: {exc}") from None
    return body


# ---- HTTP binding -------------------------------------------------------------------------


def to_http_binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    headers = {f"ce-{name}": value for name, value in event.attributes().items()}
    content_type = headers.pop("ce-datacontenttype", None)
    if content_type:
        headers["content-type"] = content_type
    _add_trace_header(event, headers)
    return headers, encode_data(event)


# What a sender adds to an event's HTTP request beyond the binding: its credential
# (zipbob_platform.event_auth), or a signature computed over the event.
EventHeaders = Callable[[CloudEvent], Mapping[str, str]]


def static_headers(headers: Mapping[str, str]) -> EventHeaders:
    """The ``EventHeaders`` hook for a credential that is the same for every event."""
    fixed = dict(headers)
    return lambda _event: fixed


def _add_trace_header(event: CloudEvent, headers: dict[str, str]) -> None:
    # The receiver's HTTP middleware continues the trace from the plain W3C header, so the
    # span handling the event joins the trace that produced it without extra code.
    if event.traceparent:
        headers["traceparent"] = event.traceparent


def to_http_structured(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    envelope: dict[str, Any] = dict(event.attributes())
    if event.data is not None:
        envelope["data"] = event.data
    body = json.dumps(envelope, separators=(",", ":"), default=str).encode()
    headers = {"content-type": STRUCTURED_CONTENT_TYPE}
    _add_trace_header(event, headers)
    return headers, body


def from_http(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Read a binary- or structured-mode event. `headers` keys may have any case."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type")
    if content_type and content_type.startswith(STRUCTURED_CONTENT_TYPE):
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            raise InvalidEvent(f"structured event is not valid JSON: {exc}") from None
        if not isinstance(envelope, dict):
            raise InvalidEvent("structured event must be a JSON object")
        return _from_attributes(envelope, envelope.get("data"))
    attrs = {k[3:]: v for k, v in lowered.items() if k.startswith("ce-")}
    if not attrs:
        raise InvalidEvent("no CloudEvents headers (ce-*) and not structured mode")
    if content_type:
        attrs["datacontenttype"] = content_type
    return _from_attributes(attrs, _decode_data(body, content_type))


# ---- AMQP binding (RabbitMQ, binary mode) ---------------------------------------------------


def to_amqp(event: CloudEvent) -> tuple[dict[str, str], bytes, str | None]:
    """(headers, body, content_type) for a pika BasicProperties."""
    headers = {f"ce-{name}": value for name, value in event.attributes().items()}
    content_type = headers.pop("ce-datacontenttype", None)
    return headers, encode_data(event), content_type


def from_amqp(
    headers: Mapping[str, Any] | None, body: bytes, content_type: str | None
) -> CloudEvent:
    attrs = {
        k[3:].lower(): (v.decode() if isinstance(v, bytes) else v)
        for k, v in (headers or {}).items()
        if k.lower().startswith("ce-")
    }
    if content_type:
        attrs["datacontenttype"] = content_type
    return _from_attributes(attrs, _decode_data(body, content_type))

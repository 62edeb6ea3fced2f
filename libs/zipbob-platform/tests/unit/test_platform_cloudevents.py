import json

import pytest

from zipbob_platform.cloudevents import (
    InvalidEvent,
    from_amqp,
    from_http,
    new_event,
    to_amqp,
    to_http_binary,
    to_http_structured,
)
from zipbob_platform.tracing import setup_tracing, tracer

DATA = {"product_id": "p1", "image_id": "i1", "bytes": 12}


def test_binary_http_round_trip_keeps_every_attribute() -> None:
    event = new_event("com.zipbob.test", "/tests", DATA, subject="p1")
    event.extensions["partitionkey"] = "p1"
    headers, body = to_http_binary(event)
    assert headers["ce-type"] == "com.zipbob.test"
    assert headers["content-type"] == "application/json"
    back = from_http({k.upper(): v for k, v in headers.items()}, body)
    assert (back.id, back.type, back.source, back.subject) == (event.id, event.type, "/tests", "p1")
    assert back.data == DATA
    assert back.extensions["partitionkey"] == "p1"


def test_structured_http_round_trip() -> None:
    event = new_event("com.zipbob.test", "/tests", DATA)
    headers, body = to_http_structured(event)
    assert json.loads(body)["data"] == DATA
    assert from_http(headers, body).data == DATA


def test_amqp_round_trip_with_bytes_headers() -> None:
    event = new_event("com.zipbob.test", "/tests", DATA)
    headers, body, content_type = to_amqp(event)
    as_received = {k: v.encode() for k, v in headers.items()}
    back = from_amqp(as_received, body, content_type)
    assert back.id == event.id and back.data == DATA


def test_trace_context_travels_in_the_traceparent_extension() -> None:
    setup_tracing("tests")
    with tracer().start_as_current_span("publish") as span:
        event = new_event("com.zipbob.test", "/tests", DATA)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert event.traceparent is not None and trace_id in event.traceparent
    for headers, _ in (to_http_binary(event), to_http_structured(event)):
        assert headers["traceparent"] == event.traceparent
        assert from_http(headers, _).traceparent == event.traceparent


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b"{}"),
        ({"ce-id": "1", "ce-source": "/x", "ce-specversion": "1.0"}, b"{}"),
        ({"ce-id": "1", "ce-source": "/x", "ce-type": "t", "ce-specversion": "0.3"}, b"{}"),
        (
            {
                "ce-id": "1",
                "ce-source": "/x",
                "ce-type": "t",
                "ce-specversion": "1.0",
                "content-type": "application/json",
            },
            b"{not json",
        ),
        ({"content-type": "application/cloudevents+json"}, b"[1, 2]"),
        ({"content-type": "application/cloudevents+json"}, b'{"id": "1"}'),
    ],
)
def test_malformed_events_are_refused(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(InvalidEvent):
        from_http(headers, body)

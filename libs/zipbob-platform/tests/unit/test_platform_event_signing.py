"""Signed events (event_auth.mode signed): what survives Knative, what is refused, rotation.

Pure logic over the real signer and the real HTTP binding; the flows through the booted
services are tests/deploy/test_boot_from_spec.py::test_each_trigger_delivers_what_its_sender_signs.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from zipbob_platform.cloudevents import from_amqp, from_http, new_event, to_amqp, to_http_binary
from zipbob_platform.event_auth import (
    SIGNATURE_EXTENSION,
    EventAuthSettings,
    EventRefused,
    EventSenderAuth,
    EventSigner,
    events_refused_total,
    key_id,
    sign_event,
    signing_publisher,
)
from zipbob_platform.settings import ServiceSettings, _section_unused

KEY = b"k-2026-12-0123456789abcdef0123456789"
OLD = b"k-2026-06-fedcba9876543210fedcba9876"


def settings(key: bytes | None = KEY, previous: bytes | None = None) -> EventAuthSettings:
    return EventAuthSettings.model_validate(
        {
            "mode": "signed",
            "signing": {
                "key": key.decode() if key else None,
                "previous_key": previous.decode() if previous else None,
            },
        }
    )


def event():  # type: ignore[no-untyped-def]
    data = {"product_id": "p1", "image_id": "i1", "variants": {"large": {"width": 10}}}
    return new_event("com.zipbob.resizer.image.resized", "/resizer", data, subject="p1")


def refused(reason: str) -> float:
    return events_refused_total.labels("test", reason)._value.get()


def check(auth: EventSenderAuth, ev) -> str:  # type: ignore[no-untyped-def]
    headers, body = to_http_binary(ev)
    return asyncio.run(auth.check(headers, body))


def test_the_extension_name_is_a_valid_cloudevents_name() -> None:
    assert SIGNATURE_EXTENSION.isalnum() and SIGNATURE_EXTENSION.islower()
    assert len(SIGNATURE_EXTENSION) <= 20


def test_a_signed_event_survives_go_re_encoding_and_amqp() -> None:
    signed = EventSigner(KEY).sign(event())
    headers, body = to_http_binary(signed)
    # eventing-rabbitmq: AMQP ce-* headers, then HTTP again with the Go SDK's time format,
    # headers in canonical case and the JSON data re-spaced and re-ordered.
    amqp_headers, amqp_body, content_type = to_amqp(from_http(headers, body))
    through = from_amqp(amqp_headers, amqp_body, content_type)
    moment = datetime.fromisoformat(through.time or "").astimezone(UTC)
    through.time = moment.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"
    headers, _ = to_http_binary(through)
    respaced = json.dumps(dict(reversed(list(through.data.items()))), indent=2).encode()
    go_headers = {k.title(): v for k, v in headers.items()}
    auth = EventSenderAuth(settings(), service="test")
    assert asyncio.run(auth.check(go_headers, respaced)) == f"signed:{key_id(KEY)}"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.extensions.pop(SIGNATURE_EXTENSION), "missing"),
        (lambda e: setattr(e, "id", "another-id"), "bad_signature"),
        (lambda e: setattr(e, "type", "com.zipbob.resizer.image.failed"), "bad_signature"),
        (lambda e: setattr(e, "source", "/elsewhere"), "bad_signature"),
        (lambda e: setattr(e, "subject", "p2"), "bad_signature"),
        (lambda e: setattr(e, "time", "2020-01-01T00:00:00Z"), "bad_signature"),
        (lambda e: e.data.update(product_id="p2"), "bad_signature"),
        (
            lambda e: e.extensions.update(
                {SIGNATURE_EXTENSION: e.extensions[SIGNATURE_EXTENSION][:-2] + "AA"}
            ),
            "bad_signature",
        ),
        (
            lambda e: e.extensions.update({SIGNATURE_EXTENSION: "v1.000000000000.xyz"}),
            "bad_signature",
        ),
        (lambda e: e.extensions.update({SIGNATURE_EXTENSION: "garbage"}), "bad_signature"),
    ],
)
def test_missing_tampered_or_foreign_signatures_are_refused_and_counted(change, reason) -> None:  # type: ignore[no-untyped-def]
    signed = EventSigner(KEY).sign(event())
    change(signed)
    auth = EventSenderAuth(settings(), service="test")
    before = refused(reason)
    with pytest.raises(EventRefused) as caught:
        check(auth, signed)
    assert caught.value.status == 401
    assert refused(reason) == before + 1


def test_another_key_is_refused() -> None:
    auth = EventSenderAuth(settings(), service="test")
    with pytest.raises(EventRefused):
        check(auth, EventSigner(b"an-attacker-s-own-key-0123456789").sign(event()))


def test_rotation_accepts_both_keys_and_signs_with_the_first() -> None:
    rotating = EventSenderAuth(settings(KEY, previous=OLD), service="test")
    assert check(rotating, EventSigner(OLD).sign(event())) == f"signed:{key_id(OLD)}"
    assert check(rotating, EventSigner(KEY).sign(event())) == f"signed:{key_id(KEY)}"
    signed = sign_event(event(), settings(KEY, previous=OLD))
    assert signed.extensions[SIGNATURE_EXTENSION].split(".")[1] == key_id(KEY)
    after = EventSenderAuth(settings(KEY), service="test")  # rotation done: OLD is out
    with pytest.raises(EventRefused):
        check(after, EventSigner(OLD).sign(event()))


def test_no_key_means_nobody_gets_in() -> None:
    auth = EventSenderAuth(settings(key=None), service="test")
    with pytest.raises(EventRefused):
        check(auth, EventSigner(KEY).sign(event()))


def test_the_publisher_wrapper_signs_every_event_and_only_in_signed_mode() -> None:
    class Capture:
        def __init__(self) -> None:
            self.events: list = []  # type: ignore[type-arg]

        async def publish_batch(self, events):  # type: ignore[no-untyped-def]
            self.events.extend(events)
            return len(events), None

        async def close(self) -> None:
            self.events.append("closed")

    capture = Capture()
    publisher = signing_publisher(capture, settings())
    asyncio.run(publisher.publish_batch([event(), event()]))
    asyncio.run(publisher.close())
    assert all(SIGNATURE_EXTENSION in e.extensions for e in capture.events[:2])
    assert capture.events[2] == "closed"
    plain = EventAuthSettings(mode="shared_secret", shared_secret=SecretStr("s"))
    assert signing_publisher(capture, plain) is capture
    untouched = copy.deepcopy(event())
    assert SIGNATURE_EXTENSION not in sign_event(untouched, plain).extensions


def test_the_signing_key_is_a_required_secret_only_in_signed_mode() -> None:
    class Svc(ServiceSettings):
        event_auth: EventAuthSettings = EventAuthSettings()

    signed = Svc(service="x", event_auth=settings())
    assert "event_auth.signing" not in _section_unused(signed)
    plain = Svc(service="x", event_auth=EventAuthSettings(mode="oidc"))
    assert _section_unused(plain)["event_auth.signing"] == "event_auth.mode is oidc"

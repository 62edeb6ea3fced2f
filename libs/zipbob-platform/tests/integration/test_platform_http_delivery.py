"""The platform's one HTTP event client against a real local HTTP server: what each status
class means, Retry-After, timeouts, refused connections, the headers it sends, the pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from zipbob_devkit.embedded import free_port
from zipbob_platform import events
from zipbob_platform.cloudevents import from_http, new_event, static_headers
from zipbob_platform.messaging.http_delivery import (
    NO_ANSWER,
    DeliveryFailed,
    EventPoster,
    Outcome,
    http_event_posts_total,
    judge,
    retry_after_seconds,
)
from zipbob_platform.messaging.http_sink import HttpSinkPublisher, Subscription

pytestmark = pytest.mark.integration
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


class Receiver:
    """A real HTTP server answering from a script of (status, headers); the last repeats.
    Status 0 in the script: hold the request until the test ends (a hung receiver)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = [(204, {})]
        self.received: list[tuple[dict[str, str], bytes, Any]] = []
        self.release = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        status, headers = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.received.append((dict(request.headers), await request.read(), peer))
        if status == 0:
            await self.release.wait()
            status = 204
        if 300 <= status < 400:
            raise web.HTTPFound(location=f"{self.url}elsewhere")
        return web.Response(status=status, headers=headers, text=f"answer {status}")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/", self._handle)
        app.router.add_post("/elsewhere", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.stop()


@pytest.fixture
async def poster() -> AsyncIterator[EventPoster]:
    made = EventPoster(
        sender="test",
        timeout_seconds=5.0,
        event_headers=lambda event: {"X-Test-Signature": f"signed:{event.id}"},
        max_retry_after_seconds=30.0,
        clock=lambda: NOW,
    )
    yield made
    await made.close()


def _event() -> Any:
    event = new_event(events.IMAGE_UPLOADED, events.CATALOG_SOURCE, {"product_id": "p1"})
    event.extensions["traceparent"] = TRACEPARENT
    return event


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (302, Outcome.PERMANENT),  # not followed
        (400, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (422, Outcome.PERMANENT),
        (408, Outcome.RETRY),
        (425, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
async def test_each_status_class_is_judged_once_the_same_way(
    receiver: Receiver, poster: EventPoster, status: int, outcome: Outcome
) -> None:
    receiver.script = [(status, {})]
    before = http_event_posts_total.labels("test", outcome.value)._value.get()
    answer = await poster.post(receiver.url, _event())
    assert (answer.status, answer.outcome) == (status, outcome)
    assert judge(status) is outcome
    assert http_event_posts_total.labels("test", outcome.value)._value.get() == before + 1
    if status == 302:
        assert len(receiver.received) == 1  # the redirect target was never asked
    if outcome is not Outcome.DELIVERED:
        assert answer.detail.startswith(f"answer {status}") or status == 302


async def test_binary_mode_trace_and_hook_headers(receiver: Receiver, poster: EventPoster) -> None:
    event = _event()
    assert (await poster.post(receiver.url, event)).delivered
    headers, body, _ = receiver.received[0]
    assert headers["ce-type"] == events.IMAGE_UPLOADED
    assert headers["ce-id"] == event.id
    assert headers["ce-specversion"] == "1.0"
    assert headers["Content-Type"] == "application/json"
    assert headers["traceparent"] == TRACEPARENT
    assert headers["X-Test-Signature"] == f"signed:{event.id}"
    assert from_http(headers, body).data == {"product_id": "p1"}


async def test_one_pooled_connection_serves_every_post(
    receiver: Receiver, poster: EventPoster
) -> None:
    for _ in range(3):
        assert (await poster.post(receiver.url, _event())).delivered
    assert len({peer for _, _, peer in receiver.received}) == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (format_datetime(NOW + timedelta(seconds=12), usegmt=True), 12.0),
        ("3600", 30.0),  # capped
        (format_datetime(NOW - timedelta(seconds=5), usegmt=True), 0.0),  # already past
        ("soon", None),  # unreadable: the caller's own backoff
    ],
)
async def test_retry_after_is_honoured_and_capped(
    receiver: Receiver, poster: EventPoster, header: str, seconds: float | None
) -> None:
    receiver.script = [(503, {"Retry-After": header})]
    answer = await poster.post(receiver.url, _event())
    assert answer.outcome is Outcome.RETRY
    assert answer.retry_after == seconds


async def test_deliver_waits_what_the_receiver_asked_then_backs_off(
    receiver: Receiver, poster: EventPoster
) -> None:
    receiver.script = [(429, {"Retry-After": "3"}), (503, {}), (503, {}), (200, {})]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    answer, attempts = await poster.deliver(
        receiver.url,
        _event(),
        max_attempts=5,
        backoff_initial_seconds=0.5,
        backoff_max_seconds=2.0,
        sleep=sleep,
    )
    assert (answer.status, attempts) == (200, 4)
    assert waits == [2.0, 1.0, 2.0]  # Retry-After 3 within the 2 s cap; then 1.0, 2.0


async def test_deliver_stops_at_a_permanent_answer_or_the_last_attempt(
    receiver: Receiver, poster: EventPoster
) -> None:
    async def no_sleep(_seconds: float) -> None:
        return None

    receiver.script = [(503, {}), (404, {})]
    answer, attempts = await poster.deliver(
        receiver.url, _event(), max_attempts=5, backoff_initial_seconds=0.1,
        backoff_max_seconds=0.1, sleep=no_sleep,
    )  # fmt: skip
    assert (answer.outcome, answer.status, attempts) == (Outcome.PERMANENT, 404, 2)
    receiver.script = [(500, {})]
    answer, attempts = await poster.deliver(
        receiver.url, _event(), max_attempts=3, backoff_initial_seconds=0.1,
        backoff_max_seconds=0.1, sleep=no_sleep,
    )  # fmt: skip
    assert (answer.outcome, answer.status, attempts) == (Outcome.RETRY, 500, 3)


async def test_a_hung_receiver_times_out_as_retryable(receiver: Receiver) -> None:
    receiver.script = [(0, {})]
    quick = EventPoster(sender="test", timeout_seconds=0.3)
    try:
        answer = await quick.post(receiver.url, _event())
    finally:
        await quick.close()
    assert (answer.status, answer.outcome) == (NO_ANSWER, Outcome.RETRY)
    assert "Timeout" in answer.detail


async def test_nobody_listening_is_retryable(poster: EventPoster) -> None:
    answer = await poster.post(f"http://127.0.0.1:{free_port()}/", _event())
    assert (answer.status, answer.outcome) == (NO_ANSWER, Outcome.RETRY)
    assert "no answer" in answer.describe()


def test_retry_after_parsing_without_a_server() -> None:
    assert retry_after_seconds(None, now=NOW, cap=10) is None
    assert retry_after_seconds(" 4 ", now=NOW, cap=10) == 4.0
    assert retry_after_seconds("Wed, 02 Dec 2026 12:00:09 GMT", now=NOW, cap=10) == 9.0


async def test_sink_publisher_retries_the_batch_on_retry_and_settles_a_refusal(
    receiver: Receiver,
) -> None:
    publisher = HttpSinkPublisher(
        [Subscription(receiver.url)],
        sender="test",
        timeout_seconds=5.0,
        event_headers=static_headers({"X-ZipBob-Event-Token": "sesame"}),
    )
    try:
        receiver.script = [(204, {}), (503, {"Retry-After": "4"})]
        delivered, error = await publisher.publish_batch([_event(), _event(), _event()])
        assert delivered == 1
        assert isinstance(error, DeliveryFailed)
        assert (error.retryable, error.retry_after) == (True, 4.0)
        assert publisher.state.startswith("retrying:")
        receiver.script = [(400, {}), (204, {})]  # the refused one is not retried
        delivered, error = await publisher.publish_batch([_event(), _event()])
        assert (delivered, error) == (2, None)
        assert all(h["X-ZipBob-Event-Token"] == "sesame" for h, _, _ in receiver.received)
    finally:
        await publisher.close()

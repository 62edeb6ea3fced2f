"""results.delivery = http (the local profile): the result event is POSTed to a real HTTP
sink through the platform's event client. A sink asking for a retry fails the incoming
event with 503 (its Retry-After passed on), so it is delivered again; a sink refusing the
result for good (400) is not retried: the event is done, answered 204."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from resizer_factories import jpeg_bytes, photo_like

from zipbob_devkit.embedded import free_port
from zipbob_platform import events
from zipbob_platform.cloudevents import from_http
from zipbob_resizer.main import create_app

from .conftest import EVENT_HEADERS, TEST_EVENT_SECRET, post, upload, uploaded_event

pytestmark = pytest.mark.integration


class Sink:
    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = [(202, {})]
        self.received: list[tuple[str, str, str]] = []  # (type, token, status)

    async def handle(self, request: web.Request) -> web.Response:
        event = from_http(request.headers, await request.read())
        status, headers = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        token = request.headers.get("X-ZipBob-Event-Token", "")
        self.received.append((event.type, token, str(status)))
        return web.Response(status=status, headers=headers)


@pytest.fixture
async def sink_and_client(settings: Any) -> AsyncIterator[tuple[Sink, httpx.AsyncClient]]:
    sink = Sink()
    app = web.Application()
    app.router.add_post("/internal/events", sink.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    posting = settings.model_copy(deep=True)
    posting.results.delivery = "http"
    posting.results.http_sink = f"http://127.0.0.1:{port}/internal/events"
    resizer = create_app(posting)
    try:
        async with (
            resizer.router.lifespan_context(resizer),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=resizer),
                base_url="http://r",
                headers=EVENT_HEADERS,
            ) as http,
        ):
            yield sink, http
    finally:
        await runner.cleanup()


async def test_result_reaches_the_sink_with_the_sender_credential(sink_and_client, s3) -> None:
    sink, http = sink_and_client
    response = await post(http, uploaded_event(upload(s3, jpeg_bytes(photo_like(300, 200)))))
    assert response.status_code == 204
    assert sink.received == [(events.IMAGE_RESIZED, TEST_EVENT_SECRET, "202")]


async def test_a_sink_asking_for_a_retry_fails_the_event_with_its_retry_after(
    sink_and_client, s3
) -> None:
    sink, http = sink_and_client
    sink.script = [(503, {"Retry-After": "7"}), (202, {})]
    event = uploaded_event(upload(s3, jpeg_bytes(photo_like(300, 200))))
    first = await post(http, event)
    assert first.status_code == 503
    assert first.headers["retry-after"] == "7"
    again = await post(http, event)  # the sender's redelivery
    assert again.status_code == 204
    assert [status for _, _, status in sink.received] == ["503", "202"]


async def test_a_sink_refusing_the_result_for_good_is_not_retried(sink_and_client, s3) -> None:
    sink, http = sink_and_client
    sink.script = [(400, {})]
    response = await post(http, uploaded_event(upload(s3, jpeg_bytes(photo_like(300, 200)))))
    assert response.status_code == 204  # done: a redelivery would be refused the same way
    assert [status for _, _, status in sink.received] == ["400"]

"""Local profile: the relay POSTs binary CloudEvents to a sink (the resizer's place), the
way a Knative source does; 5xx means retry, and the sink answers on /internal/events."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import web

from zipbob_platform import events
from zipbob_platform.cloudevents import from_http, new_event, to_http_binary

EVENT_HEADERS = {"X-ZipBob-Event-Token": "test-event-secret"}  # as catalog_settings sets

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True),
]


async def test_relay_delivers_to_an_http_sink_and_takes_the_answer(
    sql_url, s3_server, signer, images, catalog_kit
) -> None:
    received = []
    outages = {"left": 3}
    catalog_url = {}

    async def sink(request: web.Request) -> web.Response:
        if outages["left"]:
            outages["left"] -= 1
            return web.Response(status=503)  # a cold-starting Knative pod
        event = from_http(request.headers, await request.read())
        received.append(event)
        if event.type == events.IMAGE_UPLOADED:
            data = event.data
            result = new_event(
                events.IMAGE_FAILED,
                "/resizer",
                {"product_id": data["product_id"], "image_id": data["image_id"], "reason": "demo"},
            )
            headers, body = to_http_binary(result)
            async with httpx.AsyncClient(headers=EVENT_HEADERS) as client:
                answer = await client.post(
                    f"{catalog_url['url']}/internal/events", content=body, headers=headers
                )
            assert answer.status_code == 200
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", sink)
    app.router.add_post("/deleted-only", sink)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sink_port = site._server.sockets[0].getsockname()[1]
    settings = catalog_kit.settings(
        sql_url,
        s3_server.env,
        outbox={
            "relay_enabled": True,
            "transport": "http",
            "http_subscriptions": [
                {"url": f"http://127.0.0.1:{sink_port}/"},
                {
                    "url": f"http://127.0.0.1:{sink_port}/deleted-only",
                    "types": [events.PRODUCT_DELETED],
                },
            ],
            "poll_interval_seconds": 0.05,
            "max_backoff_seconds": 0.3,
        },
    )
    _app, handle = await catalog_kit.start(settings, signer)
    catalog_url["url"] = f"http://127.0.0.1:{handle[2]}"
    try:
        async with httpx.AsyncClient(base_url=catalog_url["url"], timeout=30) as client:
            created = await client.post(
                "/api/products",
                data={
                    "name": "Lamp",
                    "price": "20",
                    "currency": "EUR",
                    "stock": "2",
                    "category": "light",
                },
                files={"image": ("l.jpg", images.jpeg())},
                headers=signer.headers("local"),
            )
            product_id = created.json()["id"]
            deleted = None
            async with asyncio.timeout(20):
                while True:
                    image = (await client.get(f"/api/products/{product_id}")).json()["images"][0]
                    if image["status"] == "failed":
                        break
                    await asyncio.sleep(0.05)
            deleted = await client.delete(
                f"/api/products/{product_id}", headers=signer.headers("local")
            )
            async with asyncio.timeout(20):
                while len(received) < 3:
                    await asyncio.sleep(0.05)
    finally:
        await catalog_kit.stop(handle)
        await runner.cleanup()
    assert image["error"] == "demo"
    assert deleted.status_code == 204
    # The catch-all sink gets both events; the filtered one only the deletion.
    assert [event.type for event in received] == [
        events.IMAGE_UPLOADED,
        events.PRODUCT_DELETED,
        events.PRODUCT_DELETED,
    ]
    assert received[1].id == received[2].id
    assert received[1].data == {"product_id": product_id, "image_ids": [image["id"]]}
    assert outages["left"] == 0

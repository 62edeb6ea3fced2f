"""What a cold process imports to handle its first event: nothing it does not need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from resizer_factories import jpeg_bytes, photo_like

from .conftest import TEST_EVENT_SECRET, upload, uploaded_event

pytestmark = pytest.mark.integration

# Handles one event in a fresh interpreter through the ASGI app, then lists the heavy
# modules that got imported.
HANDLE_ONE_EVENT = """
import asyncio, json, os, sys
import httpx
from zipbob_platform.cloudevents import CloudEvent, to_http_binary
from zipbob_resizer.main import create_app
from zipbob_resizer.settings import load_resizer_settings

event = CloudEvent(**json.loads(sys.argv[1]))

async def main():
    app = create_app(load_resizer_settings())
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://r"
    ) as client:
        headers, body = to_http_binary(event)
        headers["X-ZipBob-Event-Token"] = os.environ["ZIPBOB_EVENT_AUTH__SHARED_SECRET"]
        answer = await client.post("/", content=body, headers=headers)
    heavy = ("numpy", "aiohttp", "pika", "fastapi", "boto3", "s3transfer",
             "opentelemetry.exporter")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(heavy))
    print(json.dumps({"status": answer.status_code, "loaded": loaded}))

asyncio.run(main())
"""


def test_reply_mode_event_imports_no_numpy_pika_or_http_client_library(settings: Any, s3: Any):
    event = uploaded_event(upload(s3, jpeg_bytes(photo_like(600, 400))))
    env = {
        **os.environ,
        "ZIPBOB_PROFILE": "test",
        "ZIPBOB_S3__ENDPOINT_URL": settings.s3.endpoint_url,
        "ZIPBOB_S3__ACCESS_KEY_ID": settings.s3.access_key_id.get_secret_value(),
        "ZIPBOB_S3__SECRET_ACCESS_KEY": settings.s3.secret_access_key.get_secret_value(),
        "ZIPBOB_RESULTS__DELIVERY": "reply",
        "ZIPBOB_LOGGING__LEVEL": "WARNING",
        "ZIPBOB_EVENT_AUTH__SHARED_SECRET": TEST_EVENT_SECRET,
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    attributes = {
        "type": event.type,
        "source": event.source,
        "id": event.id,
        "data": event.data,
        "extensions": event.extensions,
    }
    done = subprocess.run(
        [sys.executable, "-c", HANDLE_ONE_EVENT, json.dumps(attributes)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    assert report["loaded"] == []

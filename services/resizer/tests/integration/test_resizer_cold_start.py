"""A fresh resizer process handles its first event (Knative cold start).

How long that takes is measured by ``bench/bench_resizer_cold_start.py`` beside a bare
interpreter start, not asserted here: a loaded machine made a timed assertion fail at 3-8 s.

The dispatcher that fed the resizer in this module's former tests is its own package now
(services/dispatcher), tested against a target of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from resizer_factories import jpeg_bytes, photo_like

from zipbob_devkit.embedded import free_port
from zipbob_platform.cloudevents import to_http_binary

from .conftest import EVENT_HEADERS, TEST_EVENT_SECRET, upload, uploaded_event

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def start_resizer(settings: Any, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PORT": str(port),
        "ZIPBOB_PROFILE": "test",
        "ZIPBOB_S3__ENDPOINT_URL": settings.s3.endpoint_url,
        "ZIPBOB_S3__ACCESS_KEY_ID": settings.s3.access_key_id.get_secret_value(),
        "ZIPBOB_S3__SECRET_ACCESS_KEY": settings.s3.secret_access_key.get_secret_value(),
        "ZIPBOB_RABBITMQ__URL": settings.rabbitmq.url.get_secret_value(),
        "ZIPBOB_RABBITMQ__EXCHANGE": settings.rabbitmq.exchange,
        "ZIPBOB_RESULTS__DELIVERY": "rabbitmq",
        "ZIPBOB_LOGGING__LEVEL": "WARNING",
        "ZIPBOB_EVENT_AUTH__SHARED_SECRET": TEST_EVENT_SECRET,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "zipbob_resizer"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_cold_start_to_first_event_handled(settings, s3):
    event = uploaded_event(upload(s3, jpeg_bytes(photo_like(1200, 800))))
    headers, body = to_http_binary(event)
    headers.update(EVENT_HEADERS)
    port = free_port()
    started = time.monotonic()
    process = start_resizer(settings, port)
    try:
        status = None
        while time.monotonic() - started < 15:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/", body, headers)
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status = response.status
                break
            except urllib.error.HTTPError as refused:  # an answer, not "not up yet"
                status = refused.code
                break
            except OSError:
                time.sleep(0.01)
        elapsed = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(10)
    assert status == 204
    print(f"\ncold start to first event handled: {elapsed:.2f} s (figures: make bench)")

"""One trace id follows a registration: gateway → catalog → outbox → resizer → catalog."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .client import ApiClient
from .logs import hops_of_trace, read_json_logs
from .photos import photo_jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def api(running_platform: dict[str, str]) -> Iterator[ApiClient]:
    client = ApiClient(running_platform["gateway"])
    yield client
    client.close()


def test_registration_is_one_trace_across_every_service(
    api: ApiClient, platform_data_dir: Path
) -> None:
    seller = api.new_user("seller")
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    api.http.headers["traceparent"] = traceparent
    try:
        created = api.register_product(seller, photo_jpeg(1200, 900))
    finally:
        del api.http.headers["traceparent"]
    assert created.status_code == 201, created.text
    assert api.wait_for_images(created.json()["id"])["images"][0]["status"] == "ready"

    # The gateway labels its routes by the route-table entry, so only its method is fixed.
    gateway_hop = ("gateway", "POST")
    expected = {
        ("catalog", "POST", "/api/products"),
        ("resizer", "POST", "/"),
        ("catalog", "POST", "/internal/events"),
    }
    deadline = time.monotonic() + 10
    while True:
        hops = hops_of_trace(read_json_logs(platform_data_dir / "logs"), trace_id)
        complete = expected <= hops and gateway_hop in {h[:2] for h in hops}
        if complete or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert complete, f"trace {trace_id} seen only at {sorted(hops)}"

"""The dev profile over the real RabbitMQ, PostgreSQL, MariaDB and Redis: the journey, the
trace through the broker, and one fault at a time with nothing lost at the end."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from zipbob_devkit.testing import rabbitmqctl

from .client import ApiClient, User
from .dev_stack import DevStack, start_dev_stack
from .logs import read_json_logs
from .photos import photo_jpeg
from .polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BREAKER_OPEN_SECONDS = 2


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    stack = start_dev_stack(
        tmp_path_factory.mktemp("zipbob-dev"),
        extra_env={
            "ZIPBOB_UPSTREAMS__CATALOG__BREAKER__OPEN_SECONDS": str(BREAKER_OPEN_SECONDS),
            "ZIPBOB_DISPATCHER__BACKOFF_MAX_SECONDS": "2",
            "ZIPBOB_DISPATCHER__MAX_ATTEMPTS": "12",
        },
    )
    yield stack
    stack.stop()
    assert stack.vhost not in rabbitmqctl("list_vhosts", "--no-table-headers").split()


@pytest.fixture(scope="module")
def api(dev: DevStack) -> Iterator[ApiClient]:
    client = ApiClient(dev.urls["gateway"])
    yield client
    client.close()


@pytest.fixture(scope="module")
def seller(api: ApiClient) -> User:
    return api.new_user("seller")


def assert_ready(api: ApiClient, product_id: str, *, timeout: float = 60.0) -> dict:
    product = api.wait_for_images(product_id, timeout=timeout)
    statuses = [image["status"] for image in product["images"]]
    assert statuses == ["ready"] * len(statuses), product["images"]
    for image in product["images"]:
        assert set(image["variants"]) == {"thumbnail", "medium", "large"}
    return product


def test_the_stack_keeps_its_queues_in_a_vhost_of_its_own(dev: DevStack):
    """Two dev stacks at once (e2e and a benchmark) must not take each other's messages:
    the configuration's fixed queue names live in this stack's vhost."""
    expected = {
        "resizer.image-uploaded",
        "resizer.product-deleted",
        "catalog.image-results",
        "review.product-deleted",
    }

    def queues() -> set[str]:
        listing = rabbitmqctl("list_queues", "-p", dev.vhost, "--no-table-headers", "name")
        return set(listing.split())

    assert dev.vhost not in ("", "/")
    assert eventually(lambda: expected <= queues(), timeout=30), queues()


def test_journey_and_one_trace_through_the_broker(api: ApiClient, seller: User, dev: DevStack):
    trace_id = secrets.token_hex(16)
    api.http.headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    try:
        created = api.register_product(seller, photo_jpeg(1600, 1200))
    finally:
        del api.http.headers["traceparent"]
    assert created.status_code == 201, created.text
    product = assert_ready(api, created.json()["id"])

    def services_in_trace() -> set[str]:
        return {e["service"] for e in read_json_logs(dev.log_dir) if e.get("trace_id") == trace_id}

    # gateway → catalog → outbox → RabbitMQ → dispatcher → resizer → RabbitMQ → catalog
    everywhere = {"gateway", "catalog", "resizer"}
    assert eventually(lambda: everywhere <= services_in_trace(), timeout=10), services_in_trace()
    applied = [
        e for e in read_json_logs(dev.log_dir)
        if e.get("trace_id") == trace_id and e["service"] == "catalog"
        and e.get("logger", "").startswith("zipbob.catalog.results")
    ]  # fmt: skip
    assert applied, "the catalog applied the resize result outside the registration's trace"

    customer = api.new_user("customer")
    review = api.http.post(
        f"/api/products/{product['id']}/reviews",
        json={"rating": 5, "title": "Great", "body": "Does the job"},
        headers=customer.headers,
    )
    assert review.status_code == 201, review.text
    assert (
        api.http.delete(f"/api/products/{product['id']}", headers=seller.headers).status_code == 204
    )
    urls = [v["url"] for v in product["images"][0]["variants"].values()]

    def gone() -> bool:
        reviews = api.http.get(f"/api/products/{product['id']}/reviews")
        objects = all(httpx.get(u, timeout=5).status_code in (403, 404) for u in urls)
        return objects and (reviews.status_code == 404 or reviews.json()["total"] == 0)

    assert eventually(gone, timeout=30), "objects or reviews outlived the deleted product"


@contextlib.contextmanager
def broker_down(dev: DevStack) -> Iterator[None]:
    """Every connection to the broker cut and new ones refused, at this stack's proxy: to
    the services the same as a stopped broker, without stopping the shared one under
    every other run (each stack has its own vhost, but stop_app would take them all)."""
    dev.proxies["rabbitmq"].cut()
    try:
        yield
    finally:
        dev.proxies["rabbitmq"].restore()


def test_rabbitmq_stopped_during_registrations(api: ApiClient, seller: User, dev: DevStack):
    with broker_down(dev):
        created = [api.register_product(seller, photo_jpeg(800, 600)) for _ in range(5)]
        assert [r.status_code for r in created] == [201] * 5
        time.sleep(2)
        for response in created:
            image = api.http.get(f"/api/products/{response.json()['id']}").json()["images"][0]
            assert image["status"] == "pending"
    for response in created:
        assert_ready(api, response.json()["id"], timeout=90)


def test_resizer_killed_mid_event_is_redelivered(api: ApiClient, seller: User, dev: DevStack):
    s3 = dev.proxies["s3"]
    created = api.register_product(seller, photo_jpeg(3000, 2000))
    assert created.status_code == 201
    s3.blackhole()  # the resizer hangs downloading the original: surely mid-event
    try:
        time.sleep(2)
        dev.kill("resizer")
    finally:
        s3.restore()
    dev.restart("resizer")
    assert_ready(api, created.json()["id"], timeout=90)


def test_s3_unreachable_for_a_while_then_retried(api: ApiClient, seller: User, dev: DevStack):
    dev.kill("dispatcher")
    created = api.register_product(seller, photo_jpeg(1200, 900))
    assert created.status_code == 201
    dev.proxies["s3"].cut()
    try:
        dev.restart("dispatcher")
        time.sleep(4)  # the resizer answers 503, the dispatcher backs off and retries
        image = api.http.get(f"/api/products/{created.json()['id']}").json()["images"][0]
        assert image["status"] == "pending"
        # While S3 is away, a new photo cannot be stored: refused, nothing half-written.
        refused = api.register_product(seller, photo_jpeg(400, 300), name="Lost lamp")
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    finally:
        dev.proxies["s3"].restore()
    assert_ready(api, created.json()["id"], timeout=90)
    listed = api.http.get("/api/products", params={"seller_id": seller.id, "size": 100})
    names = [p["name"] for p in listed.json()["items"]]
    assert "Lost lamp" not in names


def test_redis_down_degrades_as_designed(api: ApiClient, dev: DevStack) -> None:
    customer = api.new_user("customer")
    product = api.register_product(api.new_user("seller"), None).json()
    review = api.http.post(
        f"/api/products/{product['id']}/reviews",
        json={"rating": 3, "title": "Fine", "body": "ok"},
        headers=customer.headers,
    )
    assert review.status_code == 201
    dev.proxies["redis"].cut()
    try:
        login = api.http.post(
            "/api/auth/login", json={"email": customer.email, "password": customer.password}
        )
        assert login.status_code == 200, "login must not depend on Redis being up"
        # Without Redis no refresh family can be stored: an access token alone is issued.
        assert login.json()["access_token"] and login.json()["refresh_token"] is None
        refresh = api.http.post("/api/auth/refresh", json={"refresh_token": customer.refresh_token})
        assert refresh.status_code == 503, "refresh must fail closed without Redis"
        assert refresh.headers["content-type"] == "application/problem+json"
        browse = [api.http.get("/api/products").status_code for _ in range(20)]
        assert browse == [200] * 20, "rate limiting must fail open"
        summary = api.http.get(f"/api/products/{product['id']}/reviews/summary")
        assert summary.status_code == 200 and summary.json()["count"] == 1
    finally:
        dev.proxies["redis"].restore()
    gateway_log = (dev.log_dir / "gateway.log").read_text()
    assert re.search(r'"level":"WARNING".*rate limit', gateway_log, re.I), (
        "the gateway did not log that rate limiting failed open"
    )


def test_mongo_down_answers_503_and_leaves_the_catalog_alone(api: ApiClient, dev: DevStack):
    product = api.register_product(api.new_user("seller"), None).json()
    dev.proxies["mongo"].cut()
    try:
        reviews = api.http.get(f"/api/products/{product['id']}/reviews")
        assert reviews.status_code == 503
        assert reviews.headers["content-type"] == "application/problem+json"
        assert api.http.get(f"/api/products/{product['id']}").status_code == 200
    finally:
        dev.proxies["mongo"].restore()
    healed = eventually(
        lambda: api.http.get(f"/api/products/{product['id']}/reviews").status_code == 200,
        timeout=20,
    )
    assert healed


def breaker_open(dev: DevStack) -> float | None:
    text = httpx.get(f"{dev.urls['gateway']}/metrics", timeout=5).text
    match = re.search(r'zipbob_circuit_breaker_open\{upstream="catalog"\} (\S+)', text)
    return float(match.group(1)) if match else None


def test_catalog_down_opens_the_breaker_which_closes_again(api: ApiClient, dev: DevStack):
    dev.kill("catalog")
    try:
        answers = [api.http.get("/api/products") for _ in range(12)]
        assert {a.status_code for a in answers} <= {502, 503, 504}
        assert answers[-1].status_code == 503
        assert answers[-1].headers["content-type"] == "application/problem+json"
        assert "retry-after" in answers[-1].headers
        assert breaker_open(dev) == 1
    finally:
        dev.restart("catalog")
    assert eventually(lambda: api.http.get("/api/products").status_code == 200, timeout=30)
    assert breaker_open(dev) == 0


def test_nothing_was_lost(api: ApiClient, seller: User) -> None:
    """Every product this seller registered during the faults ended ready."""
    page = api.http.get("/api/products", params={"seller_id": seller.id, "size": 100}).json()
    statuses = {image["status"] for p in page["items"] for image in p["images"]}
    assert statuses == {"ready"}, statuses

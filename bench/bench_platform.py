"""Load on the whole platform in the dev profile, through the gateway only.

Three mixes, each bounded in time: browse (list + get), register with photos, review.
Browse runs alone first, then again while sellers register 12 MP photos, whose
registration-to-ready time is measured under that load. Reproduce: `make bench` or
`.venv/bin/python bench/bench_platform.py [--seconds 20]`. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from loadgen import Recorder, run_load  # noqa: E402

from tests.e2e.client import ApiClient, User  # noqa: E402
from tests.e2e.dev_stack import DevStack, start_dev_stack  # noqa: E402
from tests.e2e.photos import photo_jpeg  # noqa: E402

BROWSE_USERS = 8  # each user has its own 100 req/s rate limit, like real shoppers


def seed(api: ApiClient, products: int) -> tuple[list[User], list[User], list[str]]:
    sellers = [api.new_user("seller") for _ in range(4)]
    customers = [api.new_user("customer") for _ in range(BROWSE_USERS)]
    ids = []
    for i in range(products):
        response = api.register_product(
            sellers[i % 4], None, name=f"Lamp {i}", price=f"{10 + i}.50"
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return sellers, customers, ids


def browse_scenario(customers: list[User], ids: list[str]):  # type: ignore[no-untyped-def]
    async def scenario(rec: Recorder, worker: int) -> None:
        headers = customers[worker % len(customers)].headers
        if random.random() < 0.4:
            page = random.randint(1, 5)
            await rec.call("GET /api/products", "GET", f"/api/products?page={page}&size=20",
                           headers=headers)  # fmt: skip
        else:
            product_id = random.choice(ids)
            await rec.call("GET /api/products/{id}", "GET", f"/api/products/{product_id}",
                           headers=headers)  # fmt: skip

    return scenario


def review_scenario(customers: list[User], ids: list[str]):  # type: ignore[no-untyped-def]
    async def scenario(rec: Recorder, worker: int) -> None:
        customer = customers[worker % len(customers)]
        product_id = random.choice(ids)
        await rec.call(
            "POST /api/products/{id}/reviews", "POST", f"/api/products/{product_id}/reviews",
            json={"rating": random.randint(1, 5), "title": "t", "body": "b"},
            headers=customer.headers, expect=(201, 409),
        )  # fmt: skip
        summary = f"/api/products/{product_id}/reviews/summary"
        await rec.call("GET .../reviews/summary", "GET", summary, headers=customer.headers)

    return scenario


def register_scenario(sellers: list[User], photo: bytes, ready_times: list[float],
                      pending: list[tuple[str, float]]):  # type: ignore[no-untyped-def]  # fmt: skip
    async def scenario(rec: Recorder, worker: int) -> None:
        import aiohttp

        form = aiohttp.FormData()
        fields = {"name": "Photo lamp", "description": "", "price": "20.00", "currency": "EUR",
                  "stock": "1", "category": "lighting"}  # fmt: skip
        for key, value in fields.items():
            form.add_field(key, value)
        form.add_field("image", photo, filename="p.jpg", content_type="image/jpeg")
        started = time.monotonic()
        status, body = await rec.call("POST /api/products (12 MP photo)", "POST", "/api/products",
                                      data=form, headers=sellers[worker % len(sellers)].headers,
                                      expect=(201,))  # fmt: skip
        if status != 201:
            return
        product_id = body["id"]
        while time.monotonic() - started < 120:
            _, product = await rec.call("GET /api/products/{id} (poll)", "GET",
                                        f"/api/products/{product_id}")  # fmt: skip
            if product and product["images"][0]["status"] != "pending":
                ready_times.append(time.monotonic() - started)
                return
            await asyncio.sleep(0.1)
        pending.append((product_id, started))

    return scenario


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main_async(stack: DevStack, seconds: float, workers: int) -> int:
    if True:
        api = ApiClient(stack.urls["gateway"])
        sellers, customers, ids = seed(api, products=120)
        gateway = stack.urls["gateway"]
        print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}; dev profile: PostgreSQL, MariaDB, Redis, "
              f"RabbitMQ (real), moto S3, nx-27017; one process per service")  # fmt: skip

        browse = await run_load("browse", gateway, browse_scenario(customers, ids),
                                workers=workers, seconds=seconds)  # fmt: skip
        browse.print()
        reviews = await run_load("review", gateway, review_scenario(customers, ids),
                                 workers=8, seconds=seconds / 2)  # fmt: skip
        reviews.print()

        photo = photo_jpeg(4000, 3000)
        ready_times: list[float] = []
        pending: list[tuple[str, float]] = []
        browse_under_load, registrations = await asyncio.gather(
            run_load("browse during registrations", gateway, browse_scenario(customers, ids),
                     workers=workers, seconds=seconds),
            run_load("register with photos", gateway,
                     register_scenario(sellers, photo, ready_times, pending),
                     workers=2, seconds=seconds),
        )  # fmt: skip
        browse_under_load.print()
        registrations.print()
        print(f"\n12 MP photo, registration → variants ready (n={len(ready_times)}): "
              f"p50 {percentile(ready_times, 0.5):.2f}s, p99 {percentile(ready_times, 0.99):.2f}s, "
              f"mean {statistics.fmean(ready_times) if ready_times else float('nan'):.2f}s; "
              f"still pending after 120 s: {len(pending)}")  # fmt: skip
        errors = browse.errors + browse_under_load.errors + reviews.errors + registrations.errors
        print(f"total errors: {errors}")
        api.close()
        return 0 if errors == 0 and not pending else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="zipbob-bench-"))
    stack = start_dev_stack(data_dir, extra_env={"ZIPBOB_LOGGING__LEVEL": "WARNING"}, proxied=False)
    try:
        return asyncio.run(main_async(stack, args.seconds, args.workers))
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())

"""The load mixes the e2e load test and bench/bench_platform.py share: seeding through the
API, browsing, reviewing and registering products with photos, each a loadgen scenario."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from loadgen import Recorder

from .client import ApiClient, User

# Each user has its own rate limit, like real shoppers; the mixes spread their requests over
# all of them. More than 8 sign-ups meet the per-address limit on /api/auth/* (burst 30);
# test_e2e_load raises the per-user rate instead (its LOAD_ENV says why).
BROWSE_USERS = 8


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
        headers = random.choice(customers).headers
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
        customer = random.choice(customers)
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
                      pending: list[str]):  # type: ignore[no-untyped-def]  # fmt: skip
    async def scenario(rec: Recorder, worker: int) -> None:
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
        pending.append(product_id)

    return scenario

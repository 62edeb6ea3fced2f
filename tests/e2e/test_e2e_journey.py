"""A seller and a customer use the platform through the gateway only, as `make run` starts it."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from .client import ApiClient
from .photos import photo_jpeg
from .polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
VARIANT_BOXES = {"thumbnail": 200, "medium": 800, "large": 1600}


@pytest.fixture(scope="module")
def api(running_platform: dict[str, str]) -> Iterator[ApiClient]:
    client = ApiClient(running_platform["gateway"])
    yield client
    client.close()


def test_seller_registers_a_product_with_a_photo_and_customers_review_it(api: ApiClient) -> None:
    seller = api.new_user("seller")
    customer = api.new_user("customer")
    photo = photo_jpeg(2400, 1600)

    created = api.register_product(seller, photo)
    assert created.status_code == 201, created.text
    product = created.json()
    assert created.headers["location"].endswith(f"/api/products/{product['id']}")
    assert product["seller_id"] == seller.id and product["price"] == "49.90"
    assert product["images"][0]["status"] == "pending"
    assert product["images"][0]["original"]["width"] == 2400

    ready = api.wait_for_images(product["id"])
    image = ready["images"][0]
    assert image["status"] == "ready", image
    assert set(image["variants"]) == set(VARIANT_BOXES)
    for name, variant in image["variants"].items():
        download = httpx.get(variant["url"], timeout=10)  # absolute URL, no credentials
        assert download.status_code == 200
        assert len(download.content) == variant["bytes"]
        picture = Image.open(io.BytesIO(download.content))
        assert picture.format == "JPEG"
        assert picture.size == (variant["width"], variant["height"])
        assert max(picture.size) == VARIANT_BOXES[name]

    listed = api.http.get("/api/products", params={"seller_id": seller.id}).json()
    assert [p["id"] for p in listed["items"]] == [product["id"]] and listed["total"] == 1

    review = api.http.post(
        f"/api/products/{product['id']}/reviews",
        json={"rating": 4, "title": "Lovely", "body": "Warm light, sturdy."},
        headers=customer.headers,
    )
    assert review.status_code == 201, review.text
    again = api.http.post(
        f"/api/products/{product['id']}/reviews",
        json={"rating": 1, "title": "Twice", "body": "Second try"},
        headers=customer.headers,
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    summary = api.http.get(f"/api/products/{product['id']}/reviews/summary").json()
    assert summary["count"] == 1 and summary["average"] == 4
    assert summary["histogram"]["4"] == 1

    not_owner = api.http.delete(f"/api/products/{product['id']}", headers=customer.headers)
    assert not_owner.status_code == 403
    deleted = api.http.delete(f"/api/products/{product['id']}", headers=seller.headers)
    assert deleted.status_code == 204
    assert api.http.get(f"/api/products/{product['id']}").status_code == 404

    variant_urls = [v["url"] for v in image["variants"].values()]
    objects_gone = eventually(
        lambda: all(httpx.get(url, timeout=10).status_code in (403, 404) for url in variant_urls)
    )
    assert objects_gone, "resized objects still downloadable after the product was deleted"

    def reviews_gone() -> bool:
        page = api.http.get(f"/api/products/{product['id']}/reviews")
        return page.status_code == 404 or page.json()["total"] == 0

    assert eventually(reviews_gone), "reviews of a deleted product are still listed"


def test_bad_uploads_are_refused_and_nothing_is_listed(api: ApiClient) -> None:
    seller = api.new_user("seller")
    not_an_image = api.register_product(seller, b"%PDF-1.4 definitely not a photo" * 10)
    assert not_an_image.status_code == 415
    assert not_an_image.headers["content-type"] == "application/problem+json"
    bad_price = api.register_product(seller, None, price="twelve")
    assert bad_price.status_code == 422
    listed = api.http.get("/api/products", params={"seller_id": seller.id}).json()
    assert listed["total"] == 0


def test_customers_cannot_register_products_and_anonymous_cannot_review(api: ApiClient) -> None:
    customer = api.new_user("customer")
    assert api.register_product(customer, None).status_code == 403
    anonymous = api.http.post(
        "/api/products/whatever/reviews", json={"rating": 5, "title": "x", "body": "y"}
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["x-request-id"]

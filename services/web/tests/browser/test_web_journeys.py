"""Journeys in a real browser against the whole platform (launcher, free ports): a seller
registers a product with a photo and edits it, a customer finds and reviews it; bad photos,
an expired session and a form without its CSRF token. Every page is checked with axe-core
and photographed at desktop and phone widths (tests/artifacts/web/)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from web_helpers import new_account, photo_jpeg, product_id_from

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Notes in sessionStorage (it survives the navigation) when the progress bar appears.
WATCH_PROGRESS = """
const box = document.querySelector('.progress');
new MutationObserver(() => {
  if (!box.hidden) { sessionStorage.setItem('progressShown', '1'); }
}).observe(box, {attributes: true});
"""
cookie_at = "zb_at"
cookie_rt = "zb_rt"


def expect(page: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(page)


def sign_up(visitor: Any, account: Any, *, check: bool = False) -> None:
    page = visitor.page
    page.goto("/auth/signup")
    if check:
        visitor.check_page("signup")
    page.get_by_label("Name").fill(account.name)
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_label("sell (seller)" if account.role == "seller" else "shop (customer)").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_contain_text("Welcome")


def register_product(visitor: Any, name: str, photo: dict[str, Any] | None) -> str:
    page = visitor.page
    page.goto("/seller/products/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Category").fill("lighting")
    page.get_by_label("Price").fill("49.90")
    page.get_by_label("Stock").fill("12")
    page.get_by_label("Description").fill("Warm light, solid walnut base.")
    if photo is not None:
        page.get_by_label("Photo").set_input_files(photo)
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Register product").click()
    page.wait_for_url(re.compile(r"/seller/products/(?!new$)[^/]+$"))
    # The script sent it (XHR, progress bar shown), not the browser's plain form post.
    assert page.evaluate("sessionStorage.getItem('progressShown')") == "1"
    return product_id_from(page.url)


def test_seller_registers_edits_and_a_customer_reviews(visitors, platform):
    seller, customer = visitors(), visitors()
    api = platform.api()
    name = f"Walnut lamp {uuid.uuid4().hex[:6]}"

    sign_up(seller, new_account("seller"), check=True)
    page = seller.page
    expect(page).to_have_url(re.compile(r"/seller/products$"))
    seller.check_page("seller-products-empty")

    page.goto("/seller/products/new")
    page.get_by_label("Name").fill(name)
    seller.check_page("seller-new")
    photo = {"name": "lamp.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}
    product_id = register_product(seller, name, photo)

    # The photo goes pending -> ready by itself, without a reload of the page.
    page.evaluate("window.__noReload = true")
    thumbnail = page.locator(".photo[data-status=ready] img")
    expect(thumbnail).to_be_visible(timeout=60_000)
    assert page.evaluate("window.__noReload") is True
    assert page.evaluate("document.querySelector('.photo img').naturalWidth") > 0
    expect(page.locator(".photo .status")).to_have_text("Ready")
    seller.check_page("seller-edit")

    page.get_by_label("Price (EUR)").fill("59.90")
    page.get_by_label("Stock").fill("3")
    page.get_by_label("Description").fill("Warm light, solid walnut base. Now dimmable.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Changes saved.")
    stored = api.get(f"/api/products/{product_id}").json()
    assert (stored["price"], stored["stock"]) == ("59.90", 3)
    assert stored["description"].endswith("Now dimmable.")

    # Another photo, damaged: it goes pending -> failed with the reason, live as well.
    truncated = {"name": "cut.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()[:3000]}
    page.get_by_label("Add a photo").set_input_files(truncated)
    page.get_by_role("button", name="Upload photo").click()
    expect(page.get_by_role("status")).to_have_text("Photo uploaded. It is being prepared.")
    page.evaluate("window.__noReload = true")
    failed = page.locator(".photo[data-status=failed] .status")
    expect(failed).to_contain_text("Failed: the file is cut short", timeout=60_000)
    assert page.evaluate("window.__noReload") is True
    seller.check_page("seller-edit-photo-failed")

    page.goto(f"/seller/products?q={name.split()[-1]}")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    seller.check_page("seller-products")

    # A customer finds it by search, reads it, reviews it, edits and deletes the review.
    sign_up(customer, new_account("customer"))
    page = customer.page
    expect(page.get_by_role("link", name=name)).to_be_visible()  # newest first on the front
    customer.check_page("home")
    page.get_by_role("search").get_by_label("Search products").fill(name.split()[-1])
    page.get_by_role("search").get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=name)).to_be_visible()
    customer.check_page("search-results")
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    hero = page.locator(".hero img")
    srcset = hero.get_attribute("srcset") or ""
    assert [w.split()[-1] for w in srcset.split(", ")] == ["200w", "800w", "1200w"]
    assert page.evaluate("document.querySelector('.hero img').naturalWidth") > 0
    expect(page.locator(".summary")).to_contain_text("No reviews yet")

    page.get_by_role("radio", name="4 stars").check()
    page.get_by_label("Title").fill("Lovely light")
    page.get_by_label("Your review").fill("Warm and even, the base is solid.")
    customer.check_page("product-review-form")
    page.get_by_role("button", name="Post review").click()
    expect(page.get_by_role("status")).to_have_text("Thank you, your review is saved.")
    expect(page.locator(".summary .average")).to_contain_text("4.0 out of 5")
    expect(page.get_by_role("meter", name="4 stars: 1 of 1")).to_have_attribute("value", "1")
    expect(page.locator(".review.mine h3")).to_have_text("Lovely light")
    customer.check_page("product")

    page.get_by_text("Edit your review").click()
    page.locator(".own").get_by_role("radio", name="5 stars").check()
    page.locator(".own").get_by_label("Title").fill("Lovely light, even better dimmed")
    page.get_by_role("button", name="Save review").click()
    expect(page.locator(".summary .average")).to_contain_text("5.0 out of 5")
    summary = api.get(f"/api/products/{product_id}/reviews/summary").json()
    assert summary["count"] == 1 and summary["histogram"]["5"] == 1

    page.get_by_text("Edit your review").click()
    page.get_by_role("button", name="Delete your review").click()
    expect(page.get_by_role("status")).to_have_text("Your review is deleted.")
    expect(page.locator(".summary")).to_contain_text("No reviews yet")

    # The seller deletes the product, after a confirmation page.
    page = seller.page
    page.goto(f"/seller/products/{product_id}")
    page.get_by_role("link", name="Delete this product…").click()
    seller.check_page("seller-delete")
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.get_by_role("status")).to_have_text("Product deleted.")
    assert api.get(f"/api/products/{product_id}").status_code == 404
    api.close()


def _seller_products(api: httpx.Client, seller_id: str) -> int:
    body = api.get("/api/products", params={"seller_id": seller_id}).json()
    return int(body["total"])


def test_a_text_file_and_an_oversized_photo_are_refused_and_nothing_is_stored(
    visitors, platform, tmp_path
):
    seller = visitors()
    sign_up(seller, new_account("seller"))
    page = seller.page
    page.goto("/seller/products/new")
    page.get_by_label("Name").fill("Not a photo")
    page.get_by_label("Category").fill("misc")
    page.get_by_label("Price").fill("1.00")
    page.get_by_label("Stock").fill("1")
    fake = {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": b"just some text\n" * 50}
    page.get_by_label("Photo").set_input_files(fake)
    error = page.locator("#image-error")
    expect(error).to_have_text("This file is not a JPEG, PNG or WebP photo.")
    page.get_by_role("button", name="Register product").click()
    expect(error).to_be_visible()
    seller.check_page("seller-new-bad-type")

    big = tmp_path / "huge.jpg"  # a path, not a buffer: nothing to copy over the protocol
    with big.open("wb") as out:
        out.write(b"\xff\xd8\xff\xe0")
        out.truncate(20 * 1024 * 1024 + 1)
    page.get_by_label("Photo").set_input_files(big)
    expect(error).to_have_text("The photo is too large: at most 20 MiB.")
    page.get_by_role("button", name="Register product").click()
    expect(page).to_have_url(re.compile(r"/seller/products/new$"))

    api = platform.api()
    seller_id = _me(seller, api)
    assert _seller_products(api, seller_id) == 0
    api.close()


def _me(visitor: Any, api: httpx.Client) -> str:
    token = visitor.cookie(cookie_at)
    me = api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    return str(me.json()["id"])


def test_an_expired_session_is_refreshed_silently_and_logout_revokes_it(visitors, platform):
    customer = visitors()
    account = new_account("customer")
    sign_up(customer, account)
    page = customer.page
    first_refresh = customer.cookie(cookie_rt)
    assert first_refresh and customer.cookie(cookie_at)
    # The access cookie lives as long as its token: the browser dropping it is expiry.
    customer.context.clear_cookies(name=cookie_at)
    page.goto("/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    rotated = customer.cookie(cookie_rt)
    assert customer.cookie(cookie_at) and rotated and rotated != first_refresh

    api = platform.api()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    assert customer.cookie(cookie_at) is None and customer.cookie(cookie_rt) is None
    # POST /api/auth/logout revoked the family: the last refresh token is dead too.
    assert api.post("/api/auth/refresh", json={"refresh_token": rotated}).status_code == 401
    api.close()


def test_keyboard_only_login_and_a_form_without_its_csrf_token(visitors, platform):
    visitor = visitors()
    account = new_account("customer")
    api = platform.api()
    signup = api.post(
        "/api/auth/signup",
        json={"email": account.email, "password": account.password,
              "display_name": account.name, "role": "customer"},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    api.close()
    page = visitor.page
    page.goto("/auth/login")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_label("Email").fill(account.email)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    visitor.check_page("login-error")

    page.goto("/auth/login")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_label("Email").focus()
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("You are logged in.")

    page.goto("/")
    visitor.check_page("home-signed-in")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Form refused")
    visitor.check_page("csrf-refused")
    page.goto("/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()  # nothing was done

    page.goto("/products/does-not-exist")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    visitor.check_page("not-found")

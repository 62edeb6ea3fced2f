"""A small client for the public API, used only through the gateway, like a real user."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class User:
    email: str
    password: str
    role: str
    access_token: str = ""
    refresh_token: str = ""
    id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class ApiClient:
    def __init__(self, gateway_url: str) -> None:
        self.http = httpx.Client(base_url=gateway_url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def new_user(self, role: str) -> User:
        user = User(f"{role}-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery", role)
        signup = self.http.post(
            "/api/auth/signup",
            json={
                "email": user.email,
                "password": user.password,
                "display_name": f"Test {role}",
                "role": role,
            },
        )
        assert signup.status_code == 201, signup.text
        login = self.http.post(
            "/api/auth/login", json={"email": user.email, "password": user.password}
        )
        assert login.status_code == 200, login.text
        user.access_token = login.json()["access_token"]
        user.refresh_token = login.json()["refresh_token"]
        user.id = self.http.get("/api/auth/me", headers=user.headers).json()["id"]
        return user

    def register_product(
        self, seller: User, photo: bytes | None = None, **fields: Any
    ) -> httpx.Response:
        form = {
            "name": "Walnut desk lamp",
            "description": "Warm light, solid walnut base",
            "price": "49.90",
            "currency": "EUR",
            "stock": "12",
            "category": "lighting",
            **fields,
        }
        if photo is None:  # SPEC 3: JSON when there is no image
            body = {**form, "stock": int(form["stock"])}
            return self.http.post("/api/products", json=body, headers=seller.headers)
        files = {"image": ("lamp.jpg", photo, "image/jpeg")}
        return self.http.post("/api/products", data=form, files=files, headers=seller.headers)

    def wait_for_images(self, product_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            product = self.http.get(f"/api/products/{product_id}").json()
            if product["images"] and all(i["status"] != "pending" for i in product["images"]):
                return product
            if time.monotonic() > deadline:
                raise AssertionError(f"images still pending after {timeout}s: {product}")
            time.sleep(0.2)

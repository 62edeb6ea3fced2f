"""Helpers shared by the web console's tests (importable: conftest puts this folder on
sys.path, as the review suite does)."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Platform:
    gateway: str
    web: str
    log: Path

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, timeout=30)


@dataclass
class Account:
    email: str
    password: str
    role: str
    name: str


def new_account(role: str) -> Account:
    tag = uuid.uuid4().hex[:8]
    return Account(f"{role}-{tag}@example.com", "correct horse battery", role, f"Test {role} {tag}")


def photo_jpeg(width: int = 1200, height: int = 800) -> bytes:
    """A photo-like JPEG made on the spot: gradients and a shape."""
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient, gradient.rotate(90).resize((width, height)), gradient))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=(240, 180, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def product_id_from(url: str) -> str:
    match = re.search(r"/seller/products/([^/?#]+)", url)
    assert match, url
    return match.group(1)


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)

"""Schemathesis hooks (SCHEMATHESIS_HOOKS=st_hooks): each operation gets the token of a
role its security requirement names; anonymous operations get none. A generated photo is
sometimes swapped for a real JPEG or PNG, so uploads also get past the byte sniffing and
the stateful sequences reach a 202 and the resizer.

Tokens come from the environment (the test signs both users up through the gateway):
ZIPBOB_ST_SELLER_TOKEN, ZIPBOB_ST_CUSTOMER_TOKEN.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st
from PIL import Image

TOKENS = {
    "seller": os.environ.get("ZIPBOB_ST_SELLER_TOKEN", ""),
    "customer": os.environ.get("ZIPBOB_ST_CUSTOMER_TOKEN", ""),
}
# Reviews are written by the customer, so its token edits and deletes them.
ANY_USER = {"updateReview": "customer", "deleteReview": "customer"}


def role_for(operation: dict[str, Any]) -> str | None:
    security = operation.get("security")
    if not security:
        return None
    roles = [role for requirement in security for role in requirement.get("bearerAuth", [])]
    for role in roles:
        if role in TOKENS:
            return role
    return ANY_USER.get(operation.get("operationId", ""), "seller")


@schemathesis.auth(refresh_interval=None)
class RoleTokens:
    def get(self, case: Any, context: Any) -> str | None:
        role = role_for(case.operation.definition.raw)
        return TOKENS[role] if role else None

    def set(self, case: Any, data: str | None, context: Any) -> None:
        if data:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"


def _photo(fmt: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (150, 90, 40)).save(out, fmt)
    return out.getvalue()


PHOTOS = [("image/jpeg", _photo("JPEG", (64, 48))), ("image/png", _photo("PNG", (32, 40)))]
UPLOADS = {"createProduct", "addProductImage"}


def _with_photo(body: Any, content_type: str, photo: bytes) -> Any:
    if dataclasses.is_dataclass(body):  # multipart: the fields plus their chosen part types
        fields = body.body  # type: ignore[attr-defined]
        types = body.content_types  # type: ignore[attr-defined]
        return dataclasses.replace(
            body, body={**fields, "image": photo}, content_types={**types, "image": content_type}
        )
    return {**body, "image": photo}


def _image_of(body: Any) -> Any:
    fields = body.body if dataclasses.is_dataclass(body) else body
    return fields.get("image") if isinstance(fields, dict) else None


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> Any:
    operation = context.operation
    if (
        operation is None
        or operation.definition.raw.get("operationId") not in UPLOADS
        or not isinstance(_image_of(body), (bytes, str))
    ):
        return st.just(body)
    # Same schema validity either way: only the bytes of a string field change.
    return st.sampled_from([body, *(_with_photo(body, kind, data) for kind, data in PHOTOS)])
